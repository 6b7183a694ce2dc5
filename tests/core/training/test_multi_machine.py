"""Two machines: the main machine started as the Fine-tune form starts it, the second by the
`launch.sh` the form writes into the run folder, run with MACHINE_RANK=1 exactly as the
script's header tells a user to on the other machine.

Both share the run folder by being on the same disk (the script asks for a shared folder).
First both "machines" are this host (main address 127.0.0.1); then, where this machine lets a
test make network namespaces (root, iproute2: CI's runner does), the second runs in its own
network stack joined to this one by a veth pair, so the rendezvous and gloo's traffic cross a
real link to a non-loopback main address (the case that fails when a host's name resolves to
127.0.0.1). What this cannot show is another host's clock or file system.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.training.test_multiprocess import _losses, _spec, no_dropout_model  # noqa: F401
from tests.fixtures.launch import (  # noqa: F401
    LAUNCH_TIMEOUT_S,
    free_port,
    launch_env,
    no_orphans,
    rank_pid,
    wait_for,
)
from workbench.core.training.distributed import PEER_GRACE_S
from workbench.core.training.launch import SCRIPT_NAME, LaunchSpec
from workbench.core.training.process_run import ProcessRun
from workbench.core.training.runs import load_run_metrics

pytestmark = pytest.mark.usefixtures("no_orphans")


def _second_machine(run_dir: Path, log: Path, netns: str = "", rank: int = 1,
                    home: Path | None = None) -> subprocess.Popen:
    """`MACHINE_RANK=1 bash launch.sh` (inside network namespace `netns` if given, with its
    own HOME if given), with this venv's python first on PATH (the script calls `python`, as
    a user's activated environment provides it)."""
    env = launch_env()
    env["MACHINE_RANK"] = str(rank)
    if home is not None:
        env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    inside = ["ip", "netns", "exec", netns] if netns else []
    with log.open("wb") as out:
        return subprocess.Popen([*inside, "bash", str(run_dir / SCRIPT_NAME)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _end(machine: subprocess.Popen, run_dir: Path) -> None:
    """Kill a hand-started machine's launch and its ranks, whatever the test's outcome (the
    ranks run in sessions of their own, so killing the launcher's group misses them)."""
    from workbench.core.training.distributed import logged_rank_pids

    if machine.poll() is None:
        os.killpg(machine.pid, 9)
        machine.wait()
    import psutil

    for pid in logged_rank_pids(run_dir).values():
        try:
            rank = psutil.Process(pid)
            if "workbench" in " ".join(rank.cmdline()):  # not a process that reused the pid
                rank.kill()
        except psutil.Error:
            continue  # ended already


@pytest.fixture
def second_host():
    """A network namespace joined to this one by a veth pair: (main address on this side,
    namespace name). Skipped where namespaces cannot be made (not root, no iproute2)."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("network namespaces need root and iproute2")
    tag = f"wb{os.getpid() % 100000}"
    subnet = f"10.231.{os.getpid() % 250}"
    steps = [["ip", "netns", "add", tag],
             ["ip", "link", "add", f"{tag}a", "type", "veth", "peer", "name", f"{tag}b"],
             ["ip", "link", "set", f"{tag}b", "netns", tag],
             ["ip", "addr", "add", f"{subnet}.1/24", "dev", f"{tag}a"],
             ["ip", "link", "set", f"{tag}a", "up"],
             ["ip", "netns", "exec", tag, "ip", "addr", "add", f"{subnet}.2/24", "dev",
              f"{tag}b"],
             ["ip", "netns", "exec", tag, "ip", "link", "set", f"{tag}b", "up"],
             ["ip", "netns", "exec", tag, "ip", "link", "set", "lo", "up"]]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode:
                pytest.skip(f"cannot make a network namespace here: {done.stderr.strip()}")
        yield f"{subnet}.1", tag
    finally:
        subprocess.run(["ip", "link", "del", f"{tag}a"], capture_output=True)
        subprocess.run(["ip", "netns", "del", tag], capture_output=True)


def _train_on_two_machines(model: Path, tmp_path: Path, main_address: str,
                           netns: str = "") -> ProcessRun:
    """The single-process run with batch 8, then 2 machines x 1 process x batch 4: the same
    loss at every step, and only the main machine wrote the run folder."""
    from workbench.core.training.runner import run_training

    single = run_training(_spec(model, tmp_path / "one", batch_size=8), lambda e: None)
    assert single.status == "finished"

    launch = LaunchSpec(mode="processes", num_processes=1, num_machines=2, machine_rank=0,
                        main_address=main_address, main_port=free_port())
    main = ProcessRun.start(_spec(model, tmp_path / "two"), launch, env=launch_env())
    other_log = tmp_path / "machine-1.log"
    other = _second_machine(main.run_dir, other_log, netns)
    try:
        code = main.wait(LAUNCH_TIMEOUT_S)
        assert code == 0, main.failure().message()
        assert other.wait(60) == 0, other_log.read_text()[-2000:]
    finally:
        _end(other, main.run_dir)
    assert not main.group_alive()

    # 2 machines x 1 process x batch 4 = the single run's batch 8: the same loss per step
    one, two = _losses(tmp_path / "one"), _losses(main.run_dir)
    assert sorted(two) == sorted(one) == [1, 2, 3, 4, 5, 6]
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-4, abs=1e-5)
    events = load_run_metrics(main.run_dir)
    assert [e.kind for e in events].count("started") == 1 and events[-1].kind == "finished"
    logs = main.run_dir / "logs"
    assert {"rank-0.log", "rank-1.log"} <= {p.name for p in logs.iterdir()}
    assert "rank 1 of 2" in (logs / "rank-1.log").read_text()
    assert (main.run_dir / "final" / "model.safetensors").is_file()
    return main


def test_two_machines_train_as_one_and_only_the_main_machine_writes(
        no_dropout_model, tmp_path):  # noqa: F811 (the fixture imported above)
    main = _train_on_two_machines(no_dropout_model, tmp_path, "127.0.0.1")
    # one host: loopback is right, nothing to choose
    assert "network:" not in (main.run_dir / "logs" / "rank-0.log").read_text()


def test_two_machines_on_their_own_network_stacks(no_dropout_model, tmp_path,  # noqa: F811
                                                  second_host):
    """The main machine at a veth address, the second in its own namespace: each rank binds
    gloo to the interface that reaches the main machine (this host's name resolves to
    127.0.0.1, and gloo's default then failed with 'Connection refused')."""
    address, netns = second_host
    main = _train_on_two_machines(no_dropout_model, tmp_path, address, netns)
    logs = main.run_dir / "logs"
    for rank, side in ((0, "a"), (1, "b")):
        line = next(x for x in (logs / f"rank-{rank}.log").read_text().splitlines()
                    if x.startswith("network:"))
        assert f"through {netns}{side}" in line and f"gloo binds to {netns}{side}" in line


def test_the_network_is_chosen_only_for_a_remote_main_machine_and_never_over_the_user():
    from workbench.core.training.distributed import bind_to_main_network

    alone = {"WORLD_SIZE": "1", "MASTER_ADDR": "10.0.0.1"}
    assert bind_to_main_network(alone) is None and "GLOO_SOCKET_IFNAME" not in alone
    local = {"WORLD_SIZE": "2", "MASTER_ADDR": "localhost"}
    assert bind_to_main_network(local) is None and "GLOO_SOCKET_IFNAME" not in local
    chosen = {"WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1", "GLOO_SOCKET_IFNAME": "ib0",
              "NCCL_SOCKET_IFNAME": "ib0"}
    assert bind_to_main_network(chosen) is None and chosen["GLOO_SOCKET_IFNAME"] == "ib0"


def test_machines_that_cannot_reach_each_other_are_reported_with_what_to_do(
        no_dropout_model, tmp_path, second_host, monkeypatch):  # noqa: F811
    """The user's GLOO_SOCKET_IFNAME wins over the chosen interface; naming loopback on two
    network stacks is the unreachable case. Whichever machine's rank fails first, the main
    machine's launch ends (when rank 1 failed first, rank 0 waited in the process group's
    setup for its 30-minute timeout) and the report names the rank, its error and the fix."""
    address, netns = second_host
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")  # both machines inherit it
    launch = LaunchSpec(mode="processes", num_processes=1, num_machines=2, machine_rank=0,
                        main_address=address, main_port=free_port())
    main = ProcessRun.start(_spec(no_dropout_model, tmp_path / "two"), launch, env=launch_env())
    other = _second_machine(main.run_dir, tmp_path / "machine-1.log", netns)
    try:
        assert main.wait(LAUNCH_TIMEOUT_S) not in (None, 0)
        # and the other machine's launch.sh ends by itself too: its rank sees the failure in
        # the shared folder (it waited for the process group's 30-minute timeout)
        assert other.wait(PEER_GRACE_S + 60) != 0
    finally:
        _end(other, main.run_dir)
    ranks = [rank_pid(main.run_dir, 0), rank_pid(main.run_dir, 1)]
    assert wait_for(lambda: not any(_alive(pid) for pid in ranks), 30)
    failure = main.failure()
    assert failure.rank in (0, 1), failure.last_lines
    # the rank's own message says what happened and what to check (not "unexpected ...")
    assert any(line.startswith(f"error: Rank {failure.rank} could not reach the other")
               and "connectFullMesh" in line and address in line
               for line in failure.last_lines), failure.last_lines
    assert "GLOO_SOCKET_IFNAME" in failure.advice and "reachable" in failure.advice


def test_a_main_machine_started_by_hand_that_fails_before_training_ends_the_others(
        no_dropout_model, tmp_path, monkeypatch):  # noqa: F811
    """Both machines run launch.sh by hand, so the main rank's console is a terminal, not
    logs/launcher.log. The data file is in each machine's home folder but missing on the main
    machine: its rank fails while loading the data, before the process group forms, and the
    second machine's rank, waiting there, sees the failure in metrics.jsonl and ends (it
    waited for the process group's 30-minute timeout)."""
    from tests.fixtures.training import data_file
    from workbench.core.training.launch import write_launch_files
    from workbench.core.training.process_run import LAUNCH_SPEC_NAME
    from workbench.core.training.runs import new_run_dir

    homes = {name: tmp_path / name for name in ("main-home", "other-home")}
    for home in homes.values():
        home.mkdir()
    shutil.copy(data_file("sequence-classification"), homes["other-home"] / "train.csv")
    monkeypatch.setenv("HOME", str(homes["other-home"]))
    spec = _spec(no_dropout_model, tmp_path / "two", train_file="~/train.csv")
    launch = LaunchSpec(mode="processes", num_processes=1, num_machines=2, machine_rank=0,
                        main_address="127.0.0.1", main_port=free_port())
    run_dir = new_run_dir(spec.output_dir, spec)
    spec = spec.replace(output_dir=str(run_dir))
    spec.save(run_dir / LAUNCH_SPEC_NAME)
    write_launch_files(spec, launch, run_dir, run_dir / LAUNCH_SPEC_NAME)
    main = _second_machine(run_dir, tmp_path / "machine-0.log", rank=0, home=homes["main-home"])
    other = _second_machine(run_dir, tmp_path / "machine-1.log", home=homes["other-home"])
    try:
        assert main.wait(LAUNCH_TIMEOUT_S) != 0
        assert other.wait(PEER_GRACE_S + 60) != 0, (tmp_path / "machine-1.log").read_text()
    finally:
        _end(main, run_dir)
        _end(other, run_dir)
    last = load_run_metrics(run_dir)[-1]
    assert last.kind == "failed" and "train.csv" in last.message
    assert "rank 0 reported its failure" in (run_dir / "logs" / "rank-1.log").read_text()


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_only_connection_errors_of_a_distributed_run_read_as_unreachable(monkeypatch):
    from workbench.core.training.distributed import connection_failure_message

    refused = RuntimeError("Gloo connectFullMesh failed with ... Connection refused")
    assert connection_failure_message(refused) is None  # one process: nothing to reach
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    message = connection_failure_message(refused)
    assert message.startswith("Rank 1 could not reach") and "10.0.0.1:29500" in message
    assert connection_failure_message(ValueError("labels must be integers")) is None


def test_a_rank_that_failed_ends_the_launch_but_an_earlier_launchs_failure_does_not(tmp_path):
    """The launch's group is signalled PEER_GRACE_S after a rank's log gains its "failed"
    event; a resumed run's log still holds the failure of the launch before it."""
    import json
    import signal
    import time

    from workbench.core.training.process_run import TERM_GRACE_S

    logs = tmp_path / "logs"
    logs.mkdir()
    failed = json.dumps({"kind": "failed", "step": 3, "message": "Rank 1 could not reach"})
    (logs / "rank-1.log").write_text(f"--- rank 1 of 2 (pid 1) started\n{failed}\n")
    launcher = subprocess.Popen(["sleep", "60"], start_new_session=True)
    run = ProcessRun(tmp_path, launcher, ["sleep", "60"])
    try:
        now = time.monotonic()
        for later in (0, PEER_GRACE_S + 1, 2 * PEER_GRACE_S):
            run._end_if_a_rank_failed(now + later)
        assert run.failed_rank is None and launcher.poll() is None  # the old failure
        with (logs / "rank-1.log").open("a") as log:
            log.write(f"--- rank 1 of 2 (pid 2) started\n{failed}\n")
        run._end_if_a_rank_failed(now + 100)
        assert run.failed_rank is not None and run.failed_rank[0] == 1
        run._end_if_a_rank_failed(now + 100 + PEER_GRACE_S / 2)
        assert launcher.poll() is None  # its own launcher is given the grace to end it
        run._end_if_a_rank_failed(now + 100 + PEER_GRACE_S + TERM_GRACE_S)
        assert launcher.wait(10) == -signal.SIGTERM
        assert run.failure().rank == 1
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_a_rank_watches_its_peers_failures_but_not_its_own_or_earlier_ones(tmp_path):
    import json

    from workbench.core.training.distributed import PeerWatch

    logs = tmp_path / "logs"
    logs.mkdir()
    failed = json.dumps({"kind": "failed", "step": 0, "message": "boom"}) + "\n"
    (tmp_path / "metrics.jsonl").write_text(failed)  # an earlier launch's end
    watch = PeerWatch(tmp_path, rank=1)  # not started: checked by hand
    (logs / "rank-1.log").write_text(failed)  # its own failure
    assert not watch.check(0.0) and watch.seen is None
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write(failed)  # the main rank (0) failed in this launch
    assert not watch.check(1.0) and watch.seen == (0, 1.0)
    assert not watch.check(1.0 + PEER_GRACE_S / 2)
    assert watch.check(1.0 + PEER_GRACE_S)
