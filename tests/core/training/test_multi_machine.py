"""Two machines, played by one: the main machine started as the Fine-tune form starts it, the
second by the `launch.sh` the form writes into the run folder, run with MACHINE_RANK=1 exactly as
the script's header tells a user to on the other machine.

Both "machines" are this host (main address 127.0.0.1) and share the run folder by being on the
same disk, which is the set-up the script asks for (a shared folder). torchrun's static
rendezvous over TCP and gloo are the same code paths as between two hosts; what this cannot
show is a real network between them (firewalls, another host's clock or file system).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.training.test_multiprocess import _losses, _spec, no_dropout_model  # noqa: F401
from tests.fixtures.launch import LAUNCH_TIMEOUT_S, free_port, launch_env, no_orphans  # noqa: F401
from workbench.core.training.launch import SCRIPT_NAME, LaunchSpec
from workbench.core.training.process_run import ProcessRun
from workbench.core.training.runs import load_run_metrics

pytestmark = pytest.mark.usefixtures("no_orphans")


def _second_machine(run_dir: Path, log: Path) -> subprocess.Popen:
    """`MACHINE_RANK=1 bash launch.sh`, with this venv's python first on PATH (the script calls
    `python`, as a user's activated environment provides it)."""
    env = launch_env()
    env["MACHINE_RANK"] = "1"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with log.open("wb") as out:
        return subprocess.Popen(["bash", str(run_dir / SCRIPT_NAME)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def test_two_machines_train_as_one_and_only_the_main_machine_writes(
        no_dropout_model, tmp_path):  # noqa: F811 (the fixture imported above)
    from workbench.core.training.runner import run_training

    single = run_training(_spec(no_dropout_model, tmp_path / "one", batch_size=8), lambda e: None)
    assert single.status == "finished"

    launch = LaunchSpec(mode="processes", num_processes=1, num_machines=2, machine_rank=0,
                        main_address="127.0.0.1", main_port=free_port())
    main = ProcessRun.start(_spec(no_dropout_model, tmp_path / "two"), launch, env=launch_env())
    other_log = tmp_path / "machine-1.log"
    other = _second_machine(main.run_dir, other_log)
    try:
        code = main.wait(LAUNCH_TIMEOUT_S)
        assert code == 0, main.failure().message()
        assert other.wait(60) == 0, other_log.read_text()[-2000:]
    finally:
        if other.poll() is None:
            os.killpg(other.pid, 9)
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
