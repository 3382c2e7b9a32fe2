"""The workflow on a real SLURM cluster, through the user-facing profile.

A one-node cluster on localhost (tests/slurm/cluster.sh: munge, MariaDB, slurmdbd,
slurmctld, slurmd) runs the reduced study with
`--profile profiles/slurm --workflow-profile tests/slurm/profile`, together with two
cells outside its grid (one SFT chain for all, to keep the module short). Checked:
every job of every non-local rule COMPLETED in `sacct` but the one made to fail, with
the local run's metrics; a training job requeued mid-run (`scontrol requeue`, as a
preemption does) resumes from its checkpoint and ends bit-identical to an uninterrupted
run; a failing job fails the workflow and Snakemake names its log; the reduced regime
map runs unchanged. The cluster is always stopped afterwards.

Needs root, SLURM's Debian packages (`tests/slurm/cluster.sh install`) and the SLURM
executor plugin (`make slurm`; `make test` installs it when these tests are asked for).
The plugin lives outside the virtual environment's sys.path, so Snakemake runs here
through .venv/bin/snakemake-slurm, which puts it on PYTHONPATH (tests/test_slurm_plugin.py
says why); SLURM hands PYTHONPATH on to the jobs.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import BIN, REPO, smoke_config, start_smoke_local_run
from safetensors.torch import load_file
from workflow_helpers import job_stats, snakemake_command, write_config

from isdaa.config import cell_config, cell_execution, merge, task_config, task_figures, validate_config
from isdaa.plots import FIGURES as ALL_FIGURES

SNAKEMAKE_SLURM = BIN / "snakemake-slurm"  # `make slurm`: snakemake with the SLURM plugin on PYTHONPATH


def _missing() -> str | None:
    if not os.environ.get("ISDAA_SLURM_TESTS") and not os.environ.get("ISDAA_REQUIRE_SLURM"):
        return "opt-in: set ISDAA_SLURM_TESTS=1 (they start a SLURM cluster on this machine)"
    if shutil.which("sbatch") is None:
        return "SLURM is not installed: run `tests/slurm/cluster.sh install` as root (.ci/run does)"
    if os.geteuid() != 0:
        return "the local SLURM cluster (tests/slurm/cluster.sh) needs root"
    if not SNAKEMAKE_SLURM.exists():
        return f"the Snakemake SLURM plugin is not installed: run `make slurm` (no {SNAKEMAKE_SLURM})"
    return None


if _missing() and os.environ.get("ISDAA_REQUIRE_SLURM"):  # set by .ci/run: CI must not skip these
    raise RuntimeError(f"ISDAA_REQUIRE_SLURM is set but {_missing()}")
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
STATE = Path(os.environ.get("ISDAA_SLURM_STATE", "/var/tmp/isdaa-slurm"))
ACCOUNT = "isdaa_ci"
PROFILE = ["--profile", str(REPO / "profiles" / "slurm"), "--workflow-profile", str(REPO / "tests" / "slurm" / "profile")]
# Jobs import this checkout's code, whatever the virtual environment was installed from.
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO / "src"))
RUN_TIMEOUT = 900  # a safety net against a hung run, far above the expected time

SMOKE = smoke_config()
(TASK,) = SMOKE["tasks"]
EXPECTED_REMOTE = {"build_model", "prepare_data", "sft", "label_preferences", "reference_logps", "train_preference",
                   "evaluate"}
# Two extra cells, outside the grid (so `all` and the tables are the study's alone) and
# built by their paths in the same run: one long enough to be requeued mid-run (80
# steps, a checkpoint every 2), and one whose loss turns NaN at step 2 (FloatingPointError).
LONG, DIVERGING = "long_dpo", "diverging_dpo"
CONFIG = merge(SMOKE, {"methods": {
    LONG: {"daa": "dpo", "training": {"epochs": 8, "save_steps": 2}},
    DIVERGING: {"daa": "dpo", "training": {"learning_rate": 1.0e30}},
}})
LONG_CELL = f"results/{TASK}/{LONG}/beta0.1/seed1"
DIVERGING_CELL = f"results/{TASK}/{DIVERGING}/beta0.1/seed1"
DIVERGING_LOG = f"results/{TASK}/logs/train_preference/{DIVERGING}/beta0.1/seed1.log"
FIGURES = task_figures(task_config(validate_config(copy.deepcopy(CONFIG)), TASK), ALL_FIGURES)
TARGETS = ["all", f"{LONG_CELL}/metrics.json", f"{DIVERGING_CELL}/model", "--keep-going"]


# --- the cluster ----------------------------------------------------------------------

def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat from field 3 (state) on; [] when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int | str, start: str | None = None) -> bool:
    """Exists, is not a zombie (stopped daemons can linger as zombies here) and, given a
    start time, is the process that started then (PIDs are reused)."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z" and (start is None or fields[19] == start)


def _started() -> list[tuple[str, str, str]]:
    """(name, pid, start time) of each daemon cluster.sh started."""
    path = STATE / "started"
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines() if line.strip()]


def _job_processes() -> list[str]:
    """Job step daemons still alive (a job that outlived the test)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if comm == "slurmstepd" and _alive(stat.parent.name):
            found.append(stat.parent.name)
    return found


def _cancel_leftover_jobs():
    """Jobs a failed test left behind: their processes would outlive slurmd."""
    subprocess.run(["scancel", f"--account={ACCOUNT}"], capture_output=True, timeout=30)
    deadline = time.time() + 60
    while time.time() < deadline:
        out = subprocess.run(["squeue", "-h", f"--account={ACCOUNT}"], capture_output=True, text=True, timeout=30)
        if out.returncode != 0 or not out.stdout.strip():
            return
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Bring the cluster up for this module; always bring it down, and check that every
    daemon it started has stopped. Accounting of every job is kept in
    <pytest tmp>/slurm_accounting*/sacct.txt (it goes with the cluster)."""
    since = datetime.now() - timedelta(seconds=5)
    try:
        up = subprocess.run(["bash", CLUSTER, "up"], capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, f"cluster.sh up failed:\n{up.stdout}\n{up.stderr}"
        cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=30).stdout.split()
        assert cpus == [str(len(os.sched_getaffinity(0)))], f"the node should have every CPU: {cpus}"
        yield
    finally:
        started = _started()
        if started:
            accounting = subprocess.run(
                ["sacct", "-D", "-X", "-P", f"--starttime={since:%Y-%m-%dT%H:%M:%S}", "--endtime=now",
                 "--format=JobID,JobName%40,State,Comment%80,Submit,Start,End,Elapsed"],
                capture_output=True, text=True, timeout=60)
            (tmp_path_factory.mktemp("slurm_accounting") / "sacct.txt").write_text(accounting.stdout)
            _cancel_leftover_jobs()
        down = subprocess.run(["bash", CLUSTER, "down"], capture_output=True, text=True, timeout=300)
        left = [f"{name} ({pid})" for name, pid, start in started if _alive(pid, start)]
        assert down.returncode == 0 and not left, f"still running after cluster.sh down: {left}\n{down.stderr}"
        assert not _job_processes(), f"job steps still running: {_job_processes()}"


# --- runs and sacct -------------------------------------------------------------------

@dataclass
class Run:
    """Snakemake on the cluster, in the background."""

    workdir: Path
    proc: subprocess.Popen
    out_path: Path
    started: datetime  # for sacct --starttime
    t0: float
    wall: float | None = None

    @classmethod
    def start(cls, workdir: Path, configfile: Path, *args: str) -> "Run":
        out_path = workdir / f"snakemake-{configfile.stem}.out"
        cmd = [SNAKEMAKE_SLURM, *snakemake_command(workdir, *PROFILE, *args, configfile=configfile)[1:]]
        started = datetime.now().replace(microsecond=0) - timedelta(seconds=1)
        with open(out_path, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=ENV)
        return cls(workdir, proc, out_path, started, time.time())

    @property
    def output(self) -> str:
        return self.out_path.read_text()

    def tail(self, n: int = 6000) -> str:
        return self.output[-n:]

    @property
    def run_id(self) -> str:
        match = re.search(r"SLURM run ID: (\S+)", self.output)
        assert match, f"no SLURM run ID in the output:\n{self.tail()}"
        return match[1]

    def done(self) -> bool:
        if self.proc.poll() is None:
            if time.time() > self.t0 + RUN_TIMEOUT:
                self.stop()
                raise AssertionError(f"snakemake ran over {RUN_TIMEOUT} s:\n{self.tail()}")
            return False
        if self.wall is None:
            self.wall = time.time() - self.t0
        return True

    def stop(self):
        """Interrupt a run that is still going (Snakemake then cancels its SLURM jobs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Job:
    job_id: str
    rule: str
    wildcards: str
    state: str


COMMENT = re.compile(r"^rule_(\w+?)(?:_wildcards_(.*))?$")


def sacct(run: Run) -> list[Job]:
    """The jobs of one Snakemake run (its jobs are named after the run ID), from accounting.
    The plugin puts `rule_<rule>[_wildcards_<values>]` in each job's comment."""
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", f"--name={run.run_id}", f"--starttime={run.started:%Y-%m-%dT%H:%M:%S}",
         "--endtime=now", "--format=JobID,State,Comment"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    jobs = []
    for line in out.splitlines():
        job_id, state, comment = line.split("|")
        match = COMMENT.match(comment)
        assert match, f"job {job_id}: unexpected comment {comment!r}"
        jobs.append(Job(job_id, match[1], match[2] or "", state.split()[0]))
    return jobs


SHOWN_LOG = re.compile(r"^Logfile .*:\n={80}\n.*?^={80}$", re.M | re.S)


def _without_shown_logs(output: str) -> str:
    """Snakemake's own lines: without the failed job's logs that `show-failed-logs` prints
    (the job's inner Snakemake runs its rule as a `localrule`)."""
    return SHOWN_LOG.sub("", output)


def _queued_job_id(comment: str) -> str | None:
    out = subprocess.run(["squeue", "-h", "-o", "%i|%k"], capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        job_id, job_comment = line.split("|", 1)
        if job_comment == comment:
            return job_id
    return None


def _job_fields(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30)
    return dict(field.split("=", 1) for field in out.stdout.split() if "=" in field)


def _wait_for(what: str, run: Run, probe, timeout: float = 300, every: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        if run.proc.poll() is not None:
            raise AssertionError(f"snakemake exited before {what}:\n{run.tail()}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{run.tail()}")


# --- the runs -------------------------------------------------------------------------

def _checkpoint_step(cell: Path) -> int | None:
    steps = []
    for state in (cell / "checkpoints").glob("checkpoint-*/trainer_state.json"):
        try:
            steps.append(int(state.parent.name.split("-")[1]))
        except ValueError:
            pass
    return max(steps, default=None)


def _requeue(job_id: str):
    """`scontrol requeue`, as a preemption does. SLURM then holds the job back for about
    two minutes (EligibleTime): let it start again now, ahead of the queue."""
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True, timeout=30)
    deadline = time.time() + 60
    while _job_fields(job_id).get("JobState") != "PENDING":
        assert time.time() < deadline, f"requeued job {job_id} is not pending: {_job_fields(job_id)}"
        time.sleep(0.1)
    for command in (["update", f"JobId={job_id}", "StartTime=now"], ["top", job_id]):
        subprocess.run(["scontrol", *command], check=True, capture_output=True, timeout=30)


def _start_uninterrupted_reference(workdir: Path, folder: Path) -> subprocess.Popen:
    """The long cell trained and evaluated without interruption, outside SLURM, from the
    same inputs: its own config through the CLI, in one process. Niced: it must not
    slow the cluster's jobs."""
    task = task_config(validate_config(copy.deepcopy(CONFIG)), TASK)
    cell = cell_config(task, LONG, "0.1", 1)
    cell["execution"] = cell_execution(task, LONG, cell["name"])  # as the rule's job adds it
    (folder / "cell.yaml").write_text(yaml.safe_dump(cell, sort_keys=False))
    code = ("import sys; from isdaa.cli import main; c, o = sys.argv[1:]; "
            "main(['train', '--config', c, '--output-dir', o]); "
            "main(['evaluate', '--model-path', o + '/model', '--study', 'config.yaml', '--output-dir', o + '/eval'])")
    with open(folder / "cli.out", "w") as out:
        return subprocess.Popen([sys.executable, "-c", code, folder / "cell.yaml", folder], cwd=workdir,
                                stdout=out, stderr=subprocess.STDOUT, env=ENV, preexec_fn=lambda: os.nice(10))


@dataclass
class Runs:
    slurm: Run  # the study and the two extra cells, on the cluster
    local: Path  # the same study, run locally
    long_job: str  # the long cell's training job, requeued
    checkpoint_step: int  # its newest checkpoint when it was requeued
    reference: Path  # the long cell, uninterrupted


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory) -> Runs:
    """Everything at once, to keep the cluster's CPUs busy: the SLURM run, the local run
    unless this session has made it already, and the long cell's uninterrupted reference
    (both niced, so they only fill idle CPU). The long cell's training job is requeued as
    soon as it has a complete checkpoint."""
    workdir = tmp_path_factory.mktemp("slurm_study")
    slurm = Run.start(workdir, write_config(workdir, CONFIG), *TARGETS)
    local = start_smoke_local_run(tmp_path_factory, nice=10)
    reference, cli = tmp_path_factory.mktemp("uninterrupted"), None
    try:
        comment = f"rule_train_preference_wildcards_{TASK}_{LONG}_0.1_1"
        job_id = _wait_for("the long cell's training job", slurm,
                           lambda: _queued_job_id(comment), timeout=RUN_TIMEOUT)
        cli = _start_uninterrupted_reference(workdir, reference)  # its inputs exist now
        step = _wait_for("a complete checkpoint", slurm,
                         lambda: _job_fields(job_id).get("JobState") == "RUNNING"
                         and _checkpoint_step(workdir / LONG_CELL), timeout=RUN_TIMEOUT)
        _requeue(job_id)
        while not slurm.done():
            time.sleep(0.5)
        local_dir = local()
        print(f"\nSLURM run: {slurm.wall:.0f} s")
    finally:
        slurm.stop()
        if cli is not None and cli.wait(timeout=RUN_TIMEOUT) != 0:
            raise AssertionError(f"uninterrupted reference failed:\n{(reference / 'cli.out').read_text()[-4000:]}")
    return Runs(slurm, local_dir, job_id, step, reference)


# --- the tests ------------------------------------------------------------------------

def test_study_runs_on_slurm_every_job_completed_with_the_local_metrics(runs):
    run = runs.slurm
    output = _without_shown_logs(run.output)
    remote = set(re.findall(r"^rule (\w+):$", output, re.M))
    local = set(re.findall(r"^localrule (\w+):$", output, re.M))
    assert EXPECTED_REMOTE <= remote and not remote & local, (remote, local)
    assert {"aggregate", "plot", "headline_figure", "all"} <= local

    jobs = sacct(run)
    # Every job completed but the one made to fail (see the last test).
    assert [(j.rule, j.wildcards, j.state) for j in jobs if j.state != "COMPLETED"] == [
        ("train_preference", f"{TASK}_{DIVERGING}_0.1_1", "FAILED")]
    # Each job of a non-local rule went through SLURM exactly once, and nothing else did.
    stats = job_stats(output)
    assert Counter(j.rule for j in jobs) == {rule: stats[rule] for rule in remote}

    ours = (run.workdir / "results" / "tables" / "cells.csv").read_text()
    assert ours == (runs.local / "results" / "tables" / "cells.csv").read_text()


def test_requeued_training_job_resumes_from_its_checkpoint_and_matches_an_uninterrupted_run(runs):
    run, cell = runs.slurm, runs.slurm.workdir / LONG_CELL
    # SLURM ran the job twice: the first run was requeued, the second completed.
    states = subprocess.run(["sacct", "-D", "-X", "-P", "-n", "-j", runs.long_job, "--format=State"],
                            capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert states == ["REQUEUED", "COMPLETED"], states
    assert (cell / "metrics.json").exists(), run.tail()

    # The second run resumed from the checkpoint that was there when it was requeued, or a later one.
    log = (run.workdir / f"results/{TASK}/logs/train_preference/{LONG}/beta0.1/seed1.log").read_text()
    resumed = re.search(rf"resuming from {re.escape(LONG_CELL)}/checkpoints/checkpoint-(\d+)", log)
    assert resumed, log[-3000:]
    last_step = int((cell / "train_log.csv").read_text().splitlines()[-1].split(",")[0])
    assert runs.checkpoint_step <= int(resumed[1]) < last_step, (runs.checkpoint_step, resumed[1], last_step)
    assert not (cell / "checkpoints").exists()  # cleaned up on success

    reference = runs.reference
    # The same training settings (the paths, the job's thread count and where a manual
    # run's TensorBoard logs would go aside).
    settings = [{k: v for k, v in yaml.safe_load((folder / "config.yaml").read_text()).items()
                 if k not in ("paths", "threads")} for folder in (cell, reference)]
    for setting in settings:
        setting["execution"].pop("logging_dir")
    assert settings[0] == settings[1] and settings[0]["execution"]["save_steps"] == 2
    ours, theirs = load_file(cell / "model" / "model.safetensors"), load_file(reference / "model" / "model.safetensors")
    assert ours.keys() == theirs.keys() and all((ours[k] == theirs[k]).all() for k in ours)
    assert (cell / "metrics.json").read_text() == (reference / "eval" / "metrics.json").read_text()
    assert (cell / "train_log.csv").read_text() == (reference / "train_log.csv").read_text()


def test_failing_job_fails_the_workflow_and_names_its_log(runs):
    run = runs.slurm
    assert run.proc.returncode != 0
    assert DIVERGING_LOG in run.output, run.tail()
    assert "FloatingPointError" in (run.workdir / DIVERGING_LOG).read_text()
    failed = [j for j in sacct(run) if j.rule == "train_preference" and j.wildcards.startswith(f"{TASK}_{DIVERGING}")]
    assert [j.state for j in failed] == ["FAILED"]
    assert not (run.workdir / DIVERGING_CELL / "model").exists()
    # --keep-going: everything that did not depend on it finished all the same.
    assert (run.workdir / LONG_CELL / "metrics.json").exists()
    missing = [name for name in FIGURES if not (run.workdir / "results" / "figures" / f"{name}.pdf").exists()]
    assert not missing, missing


def test_a_regime_map_runs_on_slurm_unchanged(cluster, tmp_path_factory):
    """The reduced regime map (study folders `<task>/regimes/<regime>`: slashes in the
    `task` wildcard) through the same profile: every job completes, the map's table has
    every compared cell, and two identical methods differ by exactly zero."""
    import pandas as pd

    config = yaml.safe_load((REPO / "tests" / "configs" / "smoke-regime-map.yaml").read_text())
    # Narrower than the local reduced map (tests/test_regime_map_workflow.py): what is new
    # here is the cluster, not the map.
    config["tasks"]["toy"]["grid"].update(methods=["dpo", "dpo_copy"], betas=[1.0])
    config["tasks"]["toy"]["regime_map"]["pairs"] = {"dpo_copy": "dpo"}
    config["tasks"]["toy"]["regimes"] = {"length_penalty": config["tasks"]["toy"]["regimes"]["length_penalty"]}
    workdir = tmp_path_factory.mktemp("slurm_regime_map")
    run = Run.start(workdir, write_config(workdir, config), "results/figures/regime_map.pdf")
    while not run.done():
        time.sleep(0.5)
    assert run.proc.returncode == 0, run.tail()
    jobs = sacct(run)
    assert jobs and all(j.state == "COMPLETED" for j in jobs), [(j.rule, j.wildcards, j.state) for j in jobs]
    assert any(j.rule == "train_preference" and j.wildcards.startswith("toy_regimes_length_penalty_") for j in jobs)
    table = pd.read_csv(workdir / "results" / "toy" / "tables" / "regime_map.csv")
    toy = config["tasks"]["toy"]
    assert len(table) == len(toy["regimes"]) * len(toy["regime_map"]["pairs"]) * len(toy["grid"]["betas"])
    assert (table.loc[table["method"] == "dpo_copy", "delta"] == 0).all()
    print(f"\nSLURM regime map: {run.wall:.0f} s")
