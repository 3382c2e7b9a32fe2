"""Sampling and scoring a policy in one job (`evaluation.one_job: true`) or in two
(`sample`, then `score`): wall time of evaluating every policy of a finished run both
ways, and the job time per stage.

    python benchmarks/evaluation_jobs.py --workdir benchmarks/runs/<demo run> --output docs/benchmarks.md

The run's evaluation outputs are deleted and rebuilt once per mode, with the same
inputs (its trained models), so only the job layout differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from isdaa.io import replace_block

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("generations.parquet", "samples.parquet", "metrics.json")


def evaluate_all(workdir: Path, config: dict, one_job: bool, cores: int) -> tuple[float, pd.DataFrame]:
    for task in config["tasks"].values():
        task.setdefault("evaluation", {})["one_job"] = one_job
    path = workdir / f"config-one_job-{one_job}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    metrics = sorted((workdir / "results").rglob("metrics.json"))
    for m in metrics:
        for name in OUTPUTS:
            (m.parent / name).unlink(missing_ok=True)
    for rule in ("evaluate", "sample", "score"):
        for tsv in (workdir / "results").glob(f"*/benchmarks/{rule}/**/*.tsv"):
            tsv.unlink()
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(path), "--cores", str(cores), *[str(m.relative_to(workdir)) for m in metrics]]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True)
    wall = time.perf_counter() - start
    rows = []
    for rule in ("evaluate", "sample", "score"):
        for tsv in (workdir / "results").glob(f"*/benchmarks/{rule}/**/*.tsv"):
            rows.append({"rule": rule, "s": pd.read_csv(tsv, sep="\t").iloc[-1]["s"]})
    jobs = pd.DataFrame(rows).groupby("rule")["s"].agg(["size", "sum", "median"])
    return wall, jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a finished run (its config.yaml beside results/)")
    parser.add_argument("--config", type=Path, help="its config (default: <workdir>/config.yaml or config/config.yaml)")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--output", type=Path, help="markdown file whose evaluation-jobs block is replaced")
    args = parser.parse_args()
    source = args.config or next(p for p in (args.workdir / "config.yaml", REPO / "config" / "config.yaml")
                                 if p.exists())
    config = yaml.safe_load(source.read_text())
    results = {mode: evaluate_all(args.workdir, config, mode, args.cores) for mode in (True, False)}
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d}, `--cores {args.cores}`, every policy of a finished run of "
        f"`{source.name}`. Command: `python benchmarks/evaluation_jobs.py --workdir <run>`.",
        "",
        "| layout | wall time (s) | jobs | job time, sum (s) | job time, median (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, (wall, jobs) in results.items():
        for rule, row in jobs.iterrows():
            label = "one job (`evaluate`)" if mode else f"two jobs: `{rule}`"
            lines.append(f"| {label} | {wall:.0f} | {int(row['size'])} | {row['sum']:.1f} | {row['median']:.1f} |")
    body = "\n".join(lines)
    print(body)
    if args.output:
        replace_block(args.output, "evaluation-jobs", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
