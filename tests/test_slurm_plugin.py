"""A local run never loads the Snakemake SLURM executor plugin.

Snakemake imports every executor plugin it finds when it starts, and
snakemake-executor-plugin-slurm 2.8.0 then runs `scontrol show config` (for the help
text of its `status_command` setting). Where SLURM's tools are installed and no
controller answers (a CI machine outside the SLURM tests, a workstation with SLURM's
packages), that waits ~9 s, at every `snakemake` call. So the plugin is installed apart,
outside the virtual environment's sys.path (`make slurm` -> .venv/slurm-plugin), and
only .venv/bin/snakemake-slurm puts it on PYTHONPATH.

Stub SLURM commands, first on PATH, record every call: a local `snakemake -n` must make
none, and the same through snakemake-slurm must make the plugin's probe (which shows
that the stubs see it, and that snakemake-slurm loads the plugin).
"""

import os
import subprocess

import pytest
from conftest import BIN
from workflow_helpers import snakemake_command, write_config

SLURM_COMMANDS = ["sinfo", "squeue", "sacct", "scontrol", "sbatch", "srun", "scancel", "sacctmgr"]
SNAKEMAKE_SLURM = BIN / "snakemake-slurm"


@pytest.fixture
def stub_slurm(tmp_path):
    """(environment with stub SLURM commands first on PATH, file of their calls, workdir)."""
    stubs, calls = tmp_path / "stubs", tmp_path / "slurm_calls.txt"
    stubs.mkdir()
    for name in SLURM_COMMANDS:
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n')
        stub.chmod(0o755)
    env = dict(os.environ, PATH=f"{stubs}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1")
    workdir = tmp_path / "work"
    workdir.mkdir()
    write_config(workdir)
    return env, calls, workdir


def _dry_run(executable, env, workdir):
    out = subprocess.run([executable, *snakemake_command(workdir, "-n")[1:]], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_local_snakemake_calls_no_slurm_command(stub_slurm):
    env, calls, workdir = stub_slurm
    _dry_run(BIN / "snakemake", env, workdir)
    assert not calls.exists(), (
        f"a local `snakemake -n` called SLURM's tools:\n{calls.read_text()}"
        "The SLURM executor plugin is on the virtual environment's sys.path (or PYTHONPATH): every local "
        "run waits ~9 s for a SLURM controller where none answers. Remove it "
        "(`pip uninstall snakemake-executor-plugin-slurm snakemake-executor-plugin-slurm-jobstep`); "
        "`make slurm` installs it apart, for .venv/bin/snakemake-slurm.")


def test_snakemake_slurm_loads_the_plugin(stub_slurm):
    if not SNAKEMAKE_SLURM.exists():
        message = f"no {SNAKEMAKE_SLURM}: run `make slurm`"
        if os.environ.get("ISDAA_REQUIRE_SLURM"):
            pytest.fail(message)
        pytest.skip(message)
    env, calls, workdir = stub_slurm
    _dry_run(SNAKEMAKE_SLURM, env, workdir)
    assert calls.exists() and "scontrol show config" in calls.read_text(), (
        "snakemake-slurm did not load the SLURM plugin, or the plugin no longer probes `scontrol show config` "
        f"at start-up (then it may no longer need to live apart): {calls.read_text() if calls.exists() else ''}")
