"""Process set-up shared by every entry point: threads, seeds, device, offline mode."""

from __future__ import annotations

import os
import random


def setup(threads: int = 1, seed: int | None = None) -> None:
    # The hub is unreachable by design: fail fast instead of retrying network calls.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import numpy as np
    import torch

    # Tiny models are slower and far noisier with more than one thread per process.
    torch.set_num_threads(threads)
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
