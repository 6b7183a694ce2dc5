"""The launch command, script and checks; the control file; following a growing run folder."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from tests.fixtures.launch import wait_for
from workbench.core.errors import InvalidTrainSpecError
from workbench.core.training.control_file import ControlFileWatcher, send_command
from workbench.core.training.events import TrainEvent
from workbench.core.training.follow import RunFollower
from workbench.core.training.launch import (
    LaunchSpec,
    accelerate_config_yaml,
    launch_command,
    launch_script,
    preflight,
)
from workbench.core.training.runner import TrainControl
from workbench.core.training.spec import TrainSpec


def _spec(**changes) -> TrainSpec:
    base = dict(model_path="m", task="sequence-classification", train_file="t.csv")
    base.update(changes)
    return TrainSpec(**base)


def test_cpu_command_uses_torchrun_launcher_and_workbench_train():
    argv = launch_command(_spec(), LaunchSpec(mode="processes", num_processes=2), "s.json",
                          python="python")
    assert argv[:3] == ["python", "-m", "accelerate.commands.launch"]
    assert "--multi_gpu" in argv and "--cpu" not in argv  # --cpu would start one process
    assert argv[argv.index("--num_processes") + 1] == "2"
    assert argv[-4:] == ["workbench", "train", "s.json", "--json-events"]


def test_gpu_strategies_and_several_machines():
    spec = _spec(device="cuda", precision="bf16")
    launch = LaunchSpec(mode="processes", num_processes=4, strategy="fsdp", num_machines=2,
                        machine_rank=1, main_address="10.0.0.5", main_port=29999,
                        gpu_ids="0,1,2,3")
    argv = launch_command(spec, launch, "s.json")
    assert "--use_fsdp" in argv and argv[argv.index("--num_processes") + 1] == "8"
    assert argv[argv.index("--mixed_precision") + 1] == "bf16"
    assert argv[argv.index("--main_process_ip") + 1] == "10.0.0.5"
    assert argv[argv.index("--gpu_ids") + 1] == "0,1,2,3"
    yaml = accelerate_config_yaml(spec, launch)
    assert "distributed_type: FSDP" in yaml and "num_machines: 2" in yaml
    script = launch_script(spec, launch, "s.json")
    assert 'MACHINE_RANK:-1' in script and 'CUDA_VISIBLE_DEVICES="0,1,2,3"' in script


@pytest.mark.parametrize(("spec", "launch", "reason"), [
    (_spec(), LaunchSpec(mode="processes", strategy="fsdp"), "on the CPU use ddp"),
    (_spec(device="cuda", method="lora"), LaunchSpec(mode="processes", strategy="fsdp"),
     "FSDP with LoRA"),
    (_spec(device="cuda"), LaunchSpec(mode="processes", num_processes=3), "3 processes need"),
])
def test_preflight_refuses_what_cannot_work(spec, launch, reason):
    with pytest.raises(InvalidTrainSpecError, match=reason):
        preflight(spec, launch, cuda_devices=2)


def test_preflight_refuses_a_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(InvalidTrainSpecError, match=f"Port {port} is already in use"):
            preflight(_spec(), LaunchSpec(mode="processes", main_port=port), cuda_devices=0)


def test_launch_settings_round_trip_in_the_spec_and_are_validated():
    spec = _spec(launch=LaunchSpec(mode="processes", num_processes=3))
    again = TrainSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again.launch == spec.launch
    with pytest.raises(InvalidTrainSpecError, match="machine_rank"):
        TrainSpec.from_json(dict(spec.to_json(), launch={"num_machines": 2, "machine_rank": 2}))
    with pytest.raises(InvalidTrainSpecError, match="Unknown launch setting"):
        TrainSpec.from_json(dict(spec.to_json(), launch={"nodes": 2}))


def test_control_file_commands_reach_the_train_control(tmp_path):
    send_command(tmp_path, "pause")  # older than the watcher: ignored
    control = TrainControl()
    watcher = ControlFileWatcher(tmp_path, control)
    assert watcher.poll_once() is None and not control.is_paused
    send_command(tmp_path, "pause")
    assert watcher.poll_once() == "pause" and control.is_paused
    send_command(tmp_path, "resume")
    assert watcher.poll_once() == "resume" and not control.is_paused
    send_command(tmp_path, "save")
    assert watcher.poll_once() == "save" and control.take_save_request()
    send_command(tmp_path, "cancel")
    assert watcher.poll_once() == "cancel" and control.is_cancelled and control.save_on_cancel


def test_follower_reads_only_complete_lines_as_the_file_grows(tmp_path):
    path = tmp_path / "metrics.jsonl"
    follower = RunFollower(tmp_path, stalled_after_s=60)
    assert follower.poll() == [] and follower.status().state == "waiting"
    started = TrainEvent("started", 0, 10, 0.0, 0.1)
    log = TrainEvent("log", 1, 10, 0.1, 0.2, {"loss": 1.5})
    line = log.to_json()
    with path.open("w") as f:
        f.write(started.to_json() + "\n" + line[:10])  # a writer mid-line
    assert follower.poll() == [started]
    with path.open("a") as f:
        f.write(line[10:] + "\n" + "{broken\n")
    assert follower.poll() == [log]
    assert follower.status().state == "live"
    assert follower.status(now=follower._last_seen + 3600).state == "stalled"
    with path.open("a") as f:
        f.write(TrainEvent("failed", 1, 10, 0.1, 0.3, message="boom").to_json() + "\n")
    follower.poll()
    status = follower.status()
    assert status.state == "failed" and status.message == "boom"


def test_watcher_thread_applies_commands_while_running(tmp_path):
    control = TrainControl()
    watcher = ControlFileWatcher(tmp_path, control).start()
    try:
        send_command(tmp_path, "pause")
        done = threading.Event()
        for _ in range(400):  # up to 20 s: the watcher polls every 0.2 s, CI may be loaded
            if control.is_paused:
                done.set()
                break
            threading.Event().wait(0.05)
        assert done.is_set()
    finally:
        watcher.stop()


def test_cancel_escalation_terminates_then_kills_a_group_that_does_not_stop(tmp_path):
    """A launcher whose processes ignore the control file (and one ignores SIGTERM too): the
    escalation signals the whole group and nothing of it survives."""
    import sys

    from workbench.core.training.process_run import (
        TERM_GRACE_S,
        CancelEscalation,
        ProcessRun,
    )

    # the child first: an ignored signal is inherited across exec
    stubborn = ("import signal, subprocess, sys, time; "
                "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
                "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "time.sleep(600)")
    run = ProcessRun.launch(tmp_path, [sys.executable, "-c", stubborn])
    try:
        assert wait_for(lambda: _group_size(run.process.pid) == 2, 30)
        escalation = CancelEscalation(run, budget_s=1.0, now=0.0)
        assert escalation.tick(now=0.5) == "requested"  # within the budget: no signal yet
        assert escalation.tick(now=1.5) == "terminating"  # SIGTERM to the group
        assert wait_for(lambda: _group_size(run.process.pid) == 1, 30)  # the child ended
        assert escalation.tick(now=1.5 + TERM_GRACE_S + 0.1) == "killing"  # SIGKILL
        # ticks within the kill's grace: a tick past it while the killed process is still
        # dying would (rightly) say "survivors" (it did once under load, with now=100)
        killed_at = 1.5 + TERM_GRACE_S + 0.1
        assert wait_for(lambda: escalation.tick(now=killed_at + 0.1) == "ended", 30)
        assert not run.group_alive() and run.poll() == -9
    finally:
        if run.group_alive():
            run.terminate(grace_s=1)


def test_cancel_escalation_waits_for_a_clean_stop_after_the_final_event(tmp_path):
    import sys

    from workbench.core.training.process_run import EXIT_GRACE_S, CancelEscalation, ProcessRun

    run = ProcessRun.launch(tmp_path, [sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        escalation = CancelEscalation(run, budget_s=1000.0, now=0.0)
        # the final event arrived (checkpoint written): only a short grace to exit is left
        assert escalation.tick(final_seen=True, now=1.0) == "requested"
        assert escalation.tick(now=1.0 + EXIT_GRACE_S + 0.1) == "terminating"
        assert wait_for(lambda: escalation.tick(now=2 + EXIT_GRACE_S) == "ended", 30)
        assert run.poll() == -15
    finally:
        if run.group_alive():
            run.terminate(grace_s=1)


def test_cancel_budget_comes_from_the_runs_step_and_checkpoint_times():
    from workbench.core.training.control_file import POLL_S
    from workbench.core.training.events import TrainEvent
    from workbench.core.training.process_run import (
        CHECKPOINT_ALLOWANCE_S,
        EXIT_GRACE_S,
        MIN_CANCEL_BUDGET_S,
        cancel_budget_s,
    )

    def event(kind, step, t):
        return TrainEvent(kind, step, 100, 0.0, t, {})

    assert cancel_budget_s([event("status", 0, 1.0)]) == POLL_S + EXIT_GRACE_S  # no step yet
    logs = [event("started", 0, 10.0), event("log", 1, 11.0), event("log", 3, 14.0)]
    # slowest step 1.5 s (steps 1-3), no checkpoint timed yet
    assert cancel_budget_s(logs) == pytest.approx(POLL_S + 3.0 + CHECKPOINT_ALLOWANCE_S)
    saved = [*logs, event("checkpoint", 3, 16.5)]  # 2.5 s to write a checkpoint
    assert cancel_budget_s(saved) == MIN_CANCEL_BUDGET_S  # 8.2 s from the timings: the floor
    slow = [*saved, event("log", 4, 36.5)]  # a 20 s step
    assert cancel_budget_s(slow) == pytest.approx(POLL_S + 40.0 + 5.0)



def _group_size(pgid: int) -> int:
    """Live (non-zombie) processes in group `pgid` (Linux /proc)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                count += 1
    return count
