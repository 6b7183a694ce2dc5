"""How a run is launched: in this process, or as processes started by `accelerate launch`.

The process side is the ordinary `workbench train SPEC` (no second trainer); accelerate starts
one copy per device and picks the strategy (DDP, FSDP, DeepSpeed). This module turns a
LaunchSpec into that exact command, a shell script and an accelerate config file, and refuses
combinations that cannot work before any process starts.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.core.errors import InvalidTrainSpecError

LaunchMode = Literal["thread", "processes"]
Strategy = Literal["ddp", "fsdp", "deepspeed"]
SCRIPT_NAME = "launch.sh"
ACCELERATE_CONFIG_NAME = "accelerate_config.yaml"


@dataclass(frozen=True)
class LaunchSpec:
    """Where the training runs: this window's thread, or N processes on one or more machines."""

    mode: LaunchMode = "thread"
    """'thread': in this window (pause and inspect the live model); 'processes': accelerate
    launch starts one process per device (several GPUs, or several machines)."""
    num_processes: int = 2
    """Processes on this machine (one per GPU; on the CPU, DDP over gloo)."""
    gpu_ids: str = ""
    """Which GPUs to use, e.g. '0,1' (CUDA_VISIBLE_DEVICES); empty = all."""
    strategy: Strategy = "ddp"
    """How accelerate shards the work: DDP (replicas), FSDP or DeepSpeed ZeRO (where installed)."""
    num_machines: int = 1
    """Machines taking part; each runs the same command with its own machine_rank."""
    machine_rank: int = 0
    """This machine's rank (0 = the main machine, which writes the run folder)."""
    main_address: str = "127.0.0.1"
    """Address of the main machine (rank 0), reachable from every machine."""
    main_port: int = 29500
    """Port of the main machine for the rendezvous."""

    @classmethod
    def from_json(cls, data: object) -> LaunchSpec:
        """Build from spec JSON (a dict), naming the setting that is wrong."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidTrainSpecError("Training setting 'launch' must be an object.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidTrainSpecError(f"Unknown launch setting(s): {', '.join(unknown)}. "
                                        f"Valid: {', '.join(sorted(names))}.")
        for name in ("num_processes", "num_machines", "machine_rank", "main_port"):
            if name in data and (isinstance(data[name], bool)
                                 or not isinstance(data[name], int)):
                raise InvalidTrainSpecError(
                    f"Launch setting '{name}': {data[name]!r} is not a whole number.")
        spec = cls(**data)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise InvalidTrainSpecError for values that can never work (checked offline)."""
        def bad(name: str, why: str) -> None:
            raise InvalidTrainSpecError(f"Launch setting '{name}': {why}")

        if self.mode not in ("thread", "processes"):
            bad("mode", f"'{self.mode}' is not 'thread' or 'processes'.")
        if self.strategy not in ("ddp", "fsdp", "deepspeed"):
            bad("strategy", f"'{self.strategy}' is not ddp, fsdp or deepspeed.")
        if not 1 <= self.num_processes <= 1024:
            bad("num_processes", f"{self.num_processes} must be between 1 and 1024.")
        if not 1 <= self.num_machines <= 1024:
            bad("num_machines", f"{self.num_machines} must be between 1 and 1024.")
        if not 0 <= self.machine_rank < self.num_machines:
            bad("machine_rank", f"{self.machine_rank} must be in 0..{self.num_machines - 1}.")
        if not 1 <= self.main_port <= 65535:
            bad("main_port", f"{self.main_port} is not a TCP port (1-65535).")
        ids = [g.strip() for g in self.gpu_ids.split(",") if g.strip()]
        if not all(g.isdigit() for g in ids):
            bad("gpu_ids", f"'{self.gpu_ids}' must be GPU numbers separated by commas.")
        if not self.main_address.strip():
            bad("main_address", "name the main machine (an IP address or host name).")


def strategies_available() -> list[str]:
    """The strategies this installation can run (DeepSpeed only when importable)."""
    found = ["ddp", "fsdp"]
    if importlib.util.find_spec("deepspeed") is not None:
        found.append("deepspeed")
    return found


def preflight(train_spec, launch: LaunchSpec, cuda_devices: int) -> None:
    """Refuse, before any process starts, a launch that cannot work here, with the reason.

    `cuda_devices` is the number of CUDA GPUs torch sees on this machine.
    """
    launch.validate()
    on_gpu = train_spec.device.startswith("cuda")
    if launch.strategy == "deepspeed" and "deepspeed" not in strategies_available():
        raise InvalidTrainSpecError("DeepSpeed is not installed here: pip install deepspeed, "
                                    "or choose ddp or fsdp.")
    if launch.strategy != "ddp" and not on_gpu:
        raise InvalidTrainSpecError(f"{launch.strategy.upper()} shards the model across GPUs; "
                                    f"on the CPU use ddp (device is {train_spec.device}).")
    if launch.strategy == "fsdp" and train_spec.method == "lora":
        # accelerate's FSDP wraps modules with mixed trainable/frozen parameters only with
        # use_orig_params, which peft + Trainer do not set up for us here: refuse, not hang.
        raise InvalidTrainSpecError("FSDP with LoRA is not supported by this launcher; use ddp "
                                    "(LoRA adapters are small, replicas fit).")
    if on_gpu:
        wanted = len([g for g in launch.gpu_ids.split(",") if g.strip()]) or cuda_devices
        if launch.num_processes > min(wanted, cuda_devices):
            raise InvalidTrainSpecError(
                f"{launch.num_processes} processes need as many GPUs; {cuda_devices} visible "
                f"here{' (' + launch.gpu_ids + ' chosen)' if launch.gpu_ids else ''}. Lower "
                f"num_processes.")
    if launch.machine_rank == 0 and _port_in_use(launch.main_address, launch.main_port):
        raise InvalidTrainSpecError(
            f"Port {launch.main_port} is already in use on this machine (another run?). Choose "
            f"another main_port.")


def _port_in_use(address: str, port: int) -> bool:
    """True when `port` cannot be bound here (only checked for local addresses)."""
    host = address if address in ("127.0.0.1", "localhost", "0.0.0.0") else "0.0.0.0"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def launch_command(train_spec, launch: LaunchSpec, spec_path: str | Path,
                   python: str | None = None) -> list[str]:
    """The exact command that starts the run's processes on this machine (argv list)."""
    argv = [python or sys.executable, "-m", "accelerate.commands.launch",
            "--num_processes", str(launch.num_processes * launch.num_machines),
            "--num_machines", str(launch.num_machines)]
    on_gpu = train_spec.device.startswith("cuda")
    several = launch.num_processes * launch.num_machines > 1
    if on_gpu and launch.strategy == "fsdp":
        argv.append("--use_fsdp")
    elif on_gpu and launch.strategy == "deepspeed":
        argv += ["--use_deepspeed", "--zero_stage", "2"]
    elif several:
        # accelerate's --cpu means one process (or MPI); --multi_gpu starts torchrun's agent,
        # which on a machine without CUDA sets up DDP over gloo: measured, the CPU path too.
        argv.append("--multi_gpu")
    else:
        argv.append("--cpu" if not on_gpu else "--num_cpu_threads_per_process=1")
    if on_gpu and launch.gpu_ids:
        argv += ["--gpu_ids", launch.gpu_ids]
    precision = {"bf16": "bf16", "fp16": "fp16"}.get(train_spec.precision, "no")
    argv += ["--mixed_precision", precision, "--machine_rank", str(launch.machine_rank),
             "--main_process_ip", launch.main_address, "--main_process_port",
             str(launch.main_port)]
    if launch.num_machines == 1:
        argv += ["--monitor_interval", "1"]  # notice a dead rank within a second
    argv += ["--module", "workbench", "train", str(spec_path), "--json-events"]
    return argv


def accelerate_config_yaml(train_spec, launch: LaunchSpec) -> str:
    """The same launch as an accelerate config file (`accelerate launch --config_file`)."""
    on_gpu = train_spec.device.startswith("cuda")
    kind = ("NO" if launch.num_processes * launch.num_machines == 1 else
            "MULTI_CPU" if not on_gpu else
            {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed": "DEEPSPEED"}[launch.strategy])
    precision = {"bf16": "bf16", "fp16": "fp16"}.get(train_spec.precision, "no")
    lines = ["compute_environment: LOCAL_MACHINE", f"distributed_type: {kind}",
             f"num_machines: {launch.num_machines}",
             f"num_processes: {launch.num_processes * launch.num_machines}",
             f"machine_rank: {launch.machine_rank}",
             f"main_process_ip: {launch.main_address}",
             f"main_process_port: {launch.main_port}", f"mixed_precision: {precision}",
             f"use_cpu: {'false' if on_gpu else 'true'}",
             f"gpu_ids: {launch.gpu_ids or 'all'}", "rdzv_backend: static",
             "same_network: true"]
    if kind == "DEEPSPEED":
        lines += ["deepspeed_config:", "  zero_stage: 2"]
    return "\n".join(lines) + "\n"


def launch_script(train_spec, launch: LaunchSpec, spec_path: str | Path) -> str:
    """A bash script that starts this machine's processes (run it on each machine, with
    MACHINE_RANK set on the others)."""
    argv = launch_command(train_spec, launch, spec_path, python="python")
    rank_at = argv.index("--machine_rank") + 1
    argv[rank_at] = "__RANK__"
    rank = '"${MACHINE_RANK:-' + str(launch.machine_rank) + '}"'
    command = shlex.join(argv).replace("__RANK__", rank)
    gpus = f'export CUDA_VISIBLE_DEVICES="{launch.gpu_ids}"\n' if launch.gpu_ids else ""
    return ("#!/usr/bin/env bash\n"
            "# Written by Transformer Workbench: starts this machine's training processes.\n"
            "# On the other machines run the same script with MACHINE_RANK=1, 2, ... set;\n"
            "# the run folder must be shared (all ranks write their RNG state into it).\n"
            "# Each rank uses the network interface that reaches the main address; set\n"
            "# GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME to choose another.\n"
            "set -euo pipefail\n" + gpus + "export OMP_WAIT_POLICY=PASSIVE\n"
            f"exec {command}\n")


def write_launch_files(train_spec, launch: LaunchSpec, run_dir: str | Path,
                       spec_path: str | Path) -> tuple[Path, Path]:
    """Write launch.sh and accelerate_config.yaml into the run folder (atomically)."""
    from workbench.core.atomic import atomic_write_text

    run = Path(run_dir)
    script = run / SCRIPT_NAME
    atomic_write_text(script, launch_script(train_spec, launch, spec_path))
    os.chmod(script, 0o755)
    config = run / ACCELERATE_CONFIG_NAME
    atomic_write_text(config, accelerate_config_yaml(train_spec, launch))
    return script, config
