"""Process set-up shared by every entry point: threads, seeds, device, precision."""

from __future__ import annotations

import os
import random


def setup(threads: int = 1, seed: int | None = None) -> None:
    """Torch threads (a task's `threads`: 1 for tiny models, which are slower and far
    noisier with more) and seeds. Whether the hub is reachable is the user's
    environment (HF_HUB_OFFLINE), not ours to decide."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def use_bf16(setting) -> bool:
    """A `bf16` setting (true, false or auto) resolved on this machine: auto is on
    when a GPU with bf16 support is present."""
    if setting == "auto":
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(setting)
