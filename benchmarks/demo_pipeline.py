"""Benchmark of the default demo: wall time of the whole run and, per stage (rule),
the wall time and peak resident memory that Snakemake's `benchmark:` files record.

    python benchmarks/demo_pipeline.py --output docs/benchmarks.md

Runs the default config from scratch in benchmarks/runs/<timestamp>/ (the project's
own results/ is left alone) with `--cores all`, as `make demo` does.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from isdaa.io import replace_block

REPO = Path(__file__).resolve().parents[1]


def stage_of(tsv: Path, results: Path) -> str:
    """`results/<task>/benchmarks/train_preference/dpo/beta0.1/seed1.tsv` -> `train_preference`."""
    parts = tsv.relative_to(results).parts
    return parts[parts.index("benchmarks") + 1].removesuffix(".tsv")


def collect(results: Path) -> pd.DataFrame:
    rows = []
    for tsv in sorted(results.rglob("benchmarks/**/*.tsv")):
        record = pd.read_csv(tsv, sep="\t").iloc[-1]
        rows.append({"stage": stage_of(tsv, results), "wall_s": record["s"], "max_rss_mb": record["max_rss"]})
    jobs = pd.DataFrame(rows)
    table = jobs.groupby("stage", sort=False).agg(
        jobs=("wall_s", "size"), total_wall_s=("wall_s", "sum"), max_wall_s=("wall_s", "max"),
        peak_rss_mb=("max_rss_mb", "max"),
    )
    order = ["prepare_data", "build_model", "sft", "label_preferences", "reference_logps", "train_preference",
             "evaluate", "sample", "score", "aggregate"]
    return table.reindex([s for s in order if s in table.index] + [s for s in table.index if s not in order])


def render(table: pd.DataFrame, wall: float, cores: int, command: str) -> str:
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, `--cores {cores}`, OMP_NUM_THREADS=1, default config.",
        f"Command: `{command}`.",
        "",
        f"**Demo wall time (pipeline only, venv already installed): {wall:.0f} s.**",
        "",
        "| stage | jobs | total job time (s) | slowest job (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, row in table.iterrows():
        lines.append(f"| {stage} | {int(row.jobs)} | {row.total_wall_s:.1f} | {row.max_wall_s:.1f} | {row.peak_rss_mb:.0f} |")
    lines += ["", f"Sum of job times: {table.total_wall_s.sum():.0f} s over {int(table.jobs.sum())} jobs."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="markdown file whose benchmark block is replaced")
    parser.add_argument("--cores", default="all")
    args = parser.parse_args()
    workdir = REPO / "benchmarks" / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True)
    snakemake = Path(sys.executable).parent / "snakemake"
    cmd = [str(snakemake), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
           str(REPO / "config" / "config.yaml"), "--cores", args.cores, "all"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall = time.perf_counter() - start
    table = collect(workdir / "results")
    cores = os.cpu_count() if args.cores == "all" else int(args.cores)
    body = render(table, wall, cores, "make bench")
    print(body)
    if args.output:
        replace_block(args.output, "demo-benchmark", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
