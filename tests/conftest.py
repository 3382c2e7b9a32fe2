import os
import subprocess
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


SMOKE_CONFIG = REPO / "tests" / "configs" / "smoke.yaml"
_smoke_local_run: dict = {}


def smoke_config() -> dict:
    """The reduced study of the end-to-end tests (merged over config/config.yaml by write_config)."""
    return yaml.safe_load(SMOKE_CONFIG.read_text())


def start_smoke_local_run(tmp_path_factory, nice: int = 0):
    """Start the reduced study's local run to `all` in the background, once per session.
    Returns a function that waits for it and returns its folder. `nice` lowers its CPU
    priority, to fill the CPU that more urgent work leaves idle."""
    if "workdir" in _smoke_local_run:
        return lambda: _smoke_local_run["workdir"]
    from workflow_helpers import snakemake_command, write_config

    workdir = tmp_path_factory.mktemp("e2e")
    write_config(workdir, smoke_config())
    with open(workdir / "snakemake.out", "w") as out:
        proc = subprocess.Popen(snakemake_command(workdir, "--cores", "2", "all"), stdout=out,
                                stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1"),
                                preexec_fn=(lambda: os.nice(nice)) if nice else None)

    def wait() -> Path:
        if proc.wait() != 0:
            raise AssertionError(f"local run failed:\n{(workdir / 'snakemake.out').read_text()[-4000:]}")
        _smoke_local_run["workdir"] = workdir
        return workdir

    return wait


@pytest.fixture(scope="session")
def smoke_local_run(tmp_path_factory):
    """The reduced study run locally to `all`: the end-to-end tests check it, the SLURM
    tests compare their cluster run with it."""
    return start_smoke_local_run(tmp_path_factory)()
