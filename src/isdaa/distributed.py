"""How a training job runs on its node: in one process, or in several through
`accelerate launch` (data parallel: DDP, or DeepSpeed ZeRO-3); what else receives its
logs; and how its policy is saved from several processes.

A job's process count is its `gpu` resource (`processes`): 0 or 1 trains in the job's own
process; N > 1 launches N processes of `python -m isdaa <command> --config <file>`, one per
GPU. Without CUDA, N > 1 launches N CPU processes on the gloo backend: a stand-in that runs
the same code paths, which is how the tests check them.

DeepSpeed ZeRO-3 (`distributed: deepspeed_zero3`, config/deepspeed/zero3.json) is an option
for models too large for DDP. DeepSpeed is not installed in the project's environment, so
that path has never run here: asking for it without DeepSpeed fails with a clear error
before anything starts.

Cheap to import (no torch): config validation calls `check_report_to`.
"""

from __future__ import annotations

import collections
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

DISTRIBUTED = ("ddp", "deepspeed_zero3")
# What `report_to` may name, and the modules each needs (any one of them).
TRACKERS = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}
ZERO3_CONFIG = Path(__file__).resolve().parents[2] / "config" / "deepspeed" / "zero3.json"
SRC = Path(__file__).resolve().parents[1]
# Lines of a failed launch quoted in its error (its traceback; the whole output is in the log).
ERROR_TAIL_LINES = 60


def processes(gpu) -> int:
    """Processes of a job from its `gpu` resource: 0 or 1 -> 1, N -> N."""
    return max(1, int(gpu or 0))


def world_size() -> int:
    """Processes of this training (set by the launcher; 1 in a process of its own)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def launched() -> bool:
    """Whether this process is one of several started by `launch`."""
    return "LOCAL_RANK" in os.environ and world_size() > 1


def process_device() -> str:
    """This process's device: its own GPU when launched on several, else the runtime's."""
    from isdaa.runtime import device

    name = device()
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return name


def accumulation(batch_size: int, per_device: int | None, world: int, section: str) -> tuple[int, int]:
    """(per-device batch, gradient accumulation steps) that make exactly `batch_size`
    examples per optimiser step on `world` processes; per_device None: batch_size / world."""
    if per_device is None:
        if batch_size % world:
            raise ValueError(
                f"{section}.batch_size = {batch_size} does not split over {world} processes (world size {world}); "
                f"make it a multiple of {world} or set {section}.per_device_batch_size")
        return batch_size // world, 1
    if batch_size % (per_device * world):
        raise ValueError(
            f"{section}.batch_size = {batch_size} is not a multiple of {section}.per_device_batch_size = "
            f"{per_device} x {world} processes (world size {world}): gradient accumulation would not add up to "
            f"the global batch")
    return per_device, batch_size // (per_device * world)


def check_report_to(values, key: str) -> list[str]:
    """The trackers of a `report_to` setting, each known and importable; else ValueError naming `key`."""
    values = list(values or [])
    for name in values:
        if name not in TRACKERS:
            raise ValueError(f"{key}: unknown tracker {name!r}; known: {sorted(TRACKERS)}")
        if not any(importlib.util.find_spec(module) is not None for module in TRACKERS[name]):
            raise ValueError(f"{key}: {name!r} is asked for but not installed (pip install {TRACKERS[name][0]}); "
                             f"remove it from {key} or install it")
    return values


def check_distributed(value: str, key: str) -> None:
    """Raise ValueError for an unknown `distributed` value, or DeepSpeed asked for and not installed."""
    if value not in DISTRIBUTED:
        raise ValueError(f"{key}: must be one of {list(DISTRIBUTED)}, got {value!r}")
    if value == "deepspeed_zero3" and importlib.util.find_spec("deepspeed") is None:
        raise ValueError(f"{key}: deepspeed_zero3 needs DeepSpeed, which is not installed (pip install deepspeed); "
                         f"use ddp or install it")


def deepspeed_config(distributed: str, world: int) -> str | None:
    """The trainer's `deepspeed` argument: the ZeRO-3 file on several processes, else none
    (in one process the setting has nothing to shard)."""
    return str(ZERO3_CONFIG) if world > 1 and distributed == "deepspeed_zero3" else None


def free_port() -> int:
    """A TCP port free now, for the processes' rendezvous (two jobs on one node must not share one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(args: list[str], processes: int, port: int | None = None) -> list[str]:
    """`accelerate launch` (torchrun's launcher) of `python -m isdaa <args>` on `processes`
    processes of this node. On CUDA each process takes one GPU; without CUDA the trainer
    asks for the CPU (use_cpu) and the processes join on gloo. Precision is the trainer's
    bf16 setting, DeepSpeed the trainer's `deepspeed` argument (config/deepspeed/zero3.json)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(port or free_port()), "--module", "isdaa", *args]


def _set_parent_death_signal(sig: int) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def die_with_parent() -> None:
    """Called first in a launched process. torchrun starts its workers in sessions of their
    own, so a job killed hard (SIGKILL of its process group, e.g. by a scheduler) would leave
    them training, and writing checkpoints, beside its rerun: they die with the launcher instead."""
    if not launched():
        return
    parent = os.getppid()
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the launcher died before the signal was armed
        os._exit(1)


def launch(args: list[str], processes: int, distributed: str = "ddp", threads: int = 1,
           section: str = "preference_training") -> None:
    """Run `python -m isdaa <args>` on `processes` processes and wait. Every process's
    output goes to this process's stdout (the rule's log); a failure raises with the last
    lines of that output (the failing process's traceback)."""
    check_distributed(distributed, f"{section}.distributed")
    import torch

    if torch.cuda.is_available() and processes > torch.cuda.device_count():
        raise ValueError(f"resources.gpu = {processes}: {processes} processes, one per GPU, but this node has "
                         f"{torch.cuda.device_count()} GPU(s)")
    command = launch_command(args, processes)
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads)),
               PYTHONPATH=os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p),
               PYTHONUNBUFFERED="1")
    tail = collections.deque(maxlen=ERROR_TAIL_LINES)
    print(f"launching {processes} processes: {' '.join(command)}", flush=True)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                          env=env, preexec_fn=lambda: _set_parent_death_signal(signal.SIGTERM)) as proc:
        # The launcher stops its workers on SIGTERM; it gets one if this process dies.
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            tail.append(line)
        code = proc.wait()
    if code != 0:
        raise RuntimeError(f"`python -m isdaa {' '.join(args)}` failed on {processes} processes (exit status "
                           f"{code}); its last output:\n{''.join(tail)}")


def launch_job(command: str, job: dict, config_path, processes: int, execution: dict, batch_size: int,
               section: str) -> None:
    """Run `python -m isdaa <command> --config <config_path> [--into-cell]` on `processes`
    processes for a job (a cell or an SFT job) written to `config_path`: what each process
    would fail on is checked once here first, and the job's threads are shared among them."""
    accumulation(batch_size, execution["per_device_batch_size"], processes, section)
    check_report_to(execution["report_to"], f"{section}.report_to")
    check_distributed(execution["distributed"], f"{section}.distributed")
    threads = max(1, job.get("threads", 1) // processes)
    from isdaa.io import write_yaml

    write_yaml({**job, "threads": threads}, config_path)
    args = [command, "--config", str(config_path)] + (["--into-cell"] if command == "train" else [])
    launch(args, processes, execution["distributed"], threads=threads, section=section)


def point_tensorboard(trainer, logging_dir: str) -> None:
    """Send transformers' TensorBoard callback (report_to: tensorboard) to `logging_dir`."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = logging_dir


def save_policy(trainer, path) -> None:
    """Save the trained policy and its tokenizer. Every process calls this: under DeepSpeed
    ZeRO-3 each holds a shard of every weight, and `save_model` gathers them (the config's
    stage3_gather_16bit_weights_on_model_save) for the main process to write; otherwise the
    main process writes its full copy. Written into a temporary sibling and renamed.
    (The DeepSpeed branch has never run here: DeepSpeed is not installed.)"""
    import shutil

    from isdaa import modeling

    if not trainer.is_deepspeed_enabled:
        if trainer.is_world_process_zero():
            modeling.save(trainer.model, trainer.processing_class, path)
        return
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    if trainer.is_world_process_zero():
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    trainer.accelerator.wait_for_everyone()
