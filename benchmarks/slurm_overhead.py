"""Per-job overhead of running the workflow through the Snakemake SLURM plugin.

    python benchmarks/slurm_overhead.py --output docs/slurm.md            # as root
    python benchmarks/slurm_overhead.py --init-seconds 3 10 --output docs/slurm.md

Starts the local one-node cluster (tests/slurm/cluster.sh up; stopped again at the
end), then runs the reduced study (tests/configs/smoke.yaml) to `all` once locally
(`--cores 2`) and once through `--profile profiles/slurm --workflow-profile
tests/slurm/profile` per value of `slurm-init-seconds-before-status-checks`, one run
after the other, in benchmarks/runs/<timestamp>/. Job times come from `sacct` and
from the rules' `benchmark:` files. Needs root, SLURM's packages and the SLURM executor
plugin (`make slurm`: the SLURM runs go through .venv/bin/snakemake-slurm).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from isdaa.io import replace_block

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from isdaa.config import merge  # noqa: E402

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SNAKEMAKE_SLURM = Path(sys.executable).parent / "snakemake-slurm"  # `make slurm`: the plugin on PYTHONPATH
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO / "src"))
CHAIN = ["build_model", "sft", "label_preferences", "reference_logps", "train_preference"]


def run(workdir: Path, *args: str, snakemake: Path = SNAKEMAKE) -> tuple[float, str]:
    workdir.mkdir(parents=True)
    config = merge(yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
                   yaml.safe_load((REPO / "tests" / "configs" / "smoke.yaml").read_text()))
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [snakemake, "-s", REPO / "Snakefile", "-d", workdir, "--configfile", workdir / "config.yaml", *args, "all"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - start
    (workdir / "snakemake.out").write_text(out.stdout + out.stderr)
    if out.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr[-4000:]}")
    return wall, out.stdout + out.stderr


def sacct(run_id: str) -> pd.DataFrame:
    out = subprocess.run(["sacct", "-X", "-P", "-n", f"--name={run_id}", "--starttime=now-1days", "--endtime=now",
                          "--format=JobID,State,Comment,Submit,Start,End"], capture_output=True, text=True,
                         check=True).stdout
    rows = [line.split("|") for line in out.splitlines()]
    jobs = pd.DataFrame(rows, columns=["job", "state", "comment", "submit", "start", "end"])
    for column in ("submit", "start", "end"):
        jobs[column] = pd.to_datetime(jobs[column])
    jobs["rule"] = jobs["comment"].str.extract(r"^rule_(\w+?)(?:_wildcards_.*)?$")[0]
    jobs["wildcards"] = jobs["comment"].str.extract(r"_wildcards_(.*)$")[0].fillna("")
    return jobs


def script_seconds(workdir: Path, rule: str, wildcards: str) -> float | None:
    """The rule's `benchmark:` time of one job (the script alone, inside the job).
    `wildcards` is the plugin's job comment: the wildcard values joined by `_`, the task first."""
    task, _, wildcards = wildcards.partition("_")
    base = workdir / "results" / task / "benchmarks"
    if rule == "train_preference":
        method, beta, seed = wildcards.rsplit("_", 2)
        path = base / rule / method / f"beta{beta}" / f"seed{seed}.tsv"
    elif rule in ("evaluate", "sample", "score"):
        run = wildcards.replace("_beta", "/beta").replace("_seed", "/seed").replace("_epoch", "/epoch")
        path = base / rule / f"{run}.tsv"
    else:
        path = base / f"{rule}.tsv"
    return float(pd.read_csv(path, sep="\t").iloc[-1]["s"]) if path.exists() else None


def analyse(workdir: Path, output: str, wall: float, local_wall: float, init: int) -> dict:
    run_id = next(line.split()[-1] for line in output.splitlines() if line.startswith("SLURM run ID:"))
    jobs = sacct(run_id)
    assert (jobs["state"] == "COMPLETED").all(), jobs
    elapsed = (jobs["end"] - jobs["start"]).dt.total_seconds()
    waits = (jobs["start"] - jobs["submit"]).dt.total_seconds()
    scripts = [script_seconds(workdir, r, w) for r, w in zip(jobs["rule"], jobs["wildcards"])]
    inside = [e - s for e, s in zip(elapsed, scripts) if s is not None]
    # Status-check delay along the DAG's sequential start: a job finished (sacct End) ->
    # Snakemake noticed and submitted the next one (sacct Submit).
    delays = []
    for before, after in zip(CHAIN, CHAIN[1:]):
        end = jobs.loc[jobs["rule"] == before, "end"].max()
        submit = jobs.loc[jobs["rule"] == after, "submit"].min()
        delays.append((submit - end).total_seconds())
    levels = 6  # prepare/init, sft, label, reference + SFT evaluation, training, evaluation
    return {
        "init": init, "wall": wall, "local_wall": local_wall, "jobs": len(jobs), "levels": levels,
        "per_job": (wall - local_wall) / len(jobs), "per_level": (wall - local_wall) / levels,
        "wait_min": waits.min(), "wait_median": waits.median(), "elapsed_median": elapsed.median(),
        "inside_median": statistics.median(inside), "delays": delays,
    }


def render(results: list[dict], command: str) -> str:
    local = results[0]["local_wall"]
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {os.cpu_count()} cores, SLURM 22.05 (Debian), "
        f"snakemake-executor-plugin-slurm 2.8.0, the reduced study (tests/configs/smoke.yaml) to `all`, "
        f"OMP_NUM_THREADS=1. Command: `{command}`.",
        "",
        f"Local run (`--cores 2`): **{local:.0f} s**.",
        "",
        "| init seconds | SLURM wall (s) | jobs | overhead per job (s) | per DAG level (s) "
        "| sbatch to start (s, min / median) | job in SLURM (s, median) | of which Snakemake + srun (s, median) "
        "| status-check delay per level (s) |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in results:
        delays = ", ".join(f"{d:.0f}" for d in r["delays"])
        lines.append(
            f"| {r['init']} | {r['wall']:.0f} | {r['jobs']} | {r['per_job']:.1f} | {r['per_level']:.0f} "
            f"| {r['wait_min']:.0f} / {r['wait_median']:.0f} | {r['elapsed_median']:.0f} | {r['inside_median']:.1f} "
            f"| {delays} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="markdown file whose slurm-overhead block is replaced")
    parser.add_argument("--init-seconds", type=int, nargs="+", default=[10],
                        help="values of slurm-init-seconds-before-status-checks to measure")
    args = parser.parse_args()
    if not SNAKEMAKE_SLURM.exists():
        raise SystemExit(f"no {SNAKEMAKE_SLURM}: run `make slurm` first")
    root = REPO / "benchmarks" / "runs" / f"slurm-{datetime.now():%Y%m%d-%H%M%S}"
    cluster = REPO / "tests" / "slurm" / "cluster.sh"
    subprocess.run(["bash", cluster, "up"], check=True)
    try:
        local_wall, _ = run(root / "local", "--cores", "2")
        results = []
        for init in args.init_seconds:
            workdir = root / f"slurm-init{init}"
            wall, output = run(workdir, "--profile", str(REPO / "profiles" / "slurm"), "--workflow-profile",
                               str(REPO / "tests" / "slurm" / "profile"),
                               "--slurm-init-seconds-before-status-checks", str(init), snakemake=SNAKEMAKE_SLURM)
            results.append(analyse(workdir, output, wall, local_wall, init))
    finally:
        subprocess.run(["bash", cluster, "down"], check=True)
    command = "python benchmarks/slurm_overhead.py --init-seconds " + " ".join(map(str, args.init_seconds))
    body = render(results, command)
    print(body)
    if args.output:
        replace_block(args.output, "slurm-overhead", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
