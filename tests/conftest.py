import os
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
os.environ.setdefault("OMP_NUM_THREADS", "1")


def default_config() -> dict:
    with open(REPO / "config" / "config.yaml") as f:
        return yaml.safe_load(f)


@pytest.fixture
def config():
    """A fresh copy of the default config (before validation)."""
    return default_config()
