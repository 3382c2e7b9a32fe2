"""Snakemake's start-up with and without the SLURM executor plugin on its path.

    python benchmarks/slurm_startup.py                         # prints the table
    python benchmarks/slurm_startup.py --output docs/slurm.md  # and replaces its slurm-startup block

Times `snakemake -n` on the default study (config/config.yaml, in a scratch folder:
it plans the whole study) through .venv/bin/snakemake (no
plugin: what `make venv` installs) and through .venv/bin/snakemake-slurm (the plugin on
PYTHONPATH: as every call was when `make venv` installed the plugin into the
environment), alternating, --runs times each; and `scontrol show config` alone. Run it
where SLURM's tools are installed and no controller answers (`tests/slurm/cluster.sh
install`, then `up` and `down` once to write /etc/slurm/slurm.conf): that is where the
plugin's probe waits. Needs `make slurm`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from isdaa.io import replace_block

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")


def timed(cmd: list) -> tuple[float, int]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    return time.perf_counter() - start, out.returncode


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, help="markdown file whose slurm-startup block is replaced")
    args = parser.parse_args()
    if not (BIN / "snakemake-slurm").exists():
        raise SystemExit(f"no {BIN / 'snakemake-slurm'}: run `make slurm` first")
    scontrol = shutil.which("scontrol")
    controller = "no `scontrol` on PATH"
    probe = []
    with tempfile.TemporaryDirectory() as workdir:
        times = {"snakemake": [], "snakemake-slurm": []}
        for _ in range(args.runs):
            for name in times:
                wall, code = timed([BIN / name, "-s", REPO / "Snakefile", "-d", workdir, "--configfile",
                                    REPO / "config" / "config.yaml", "-n"])
                if code:
                    raise SystemExit(f"{name} -n failed (exit status {code})")
                times[name].append(wall)
            if scontrol:
                wall, code = timed([scontrol, "show", "config"])
                probe.append(wall)
                controller = "a controller answered" if code == 0 else f"no controller answered (exit status {code})"
    load = os.getloadavg()
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {os.cpu_count()} cores (load average "
        f"{load[0]:.1f} at the end), snakemake-executor-plugin-slurm 2.8.0; `scontrol show config`: {controller}. "
        f"Command: `python benchmarks/slurm_startup.py --runs {args.runs}`. Seconds, median (min-max) of "
        f"{args.runs} runs.",
        "",
        "| command | plugin | wall (s) |",
        "|---|---|---:|",
        f"| `.venv/bin/snakemake -n` | not on the path (`make venv`) | {spread(times['snakemake'])} |",
        f"| `.venv/bin/snakemake-slurm -n` | on the path (as in the venv before `make slurm`) "
        f"| {spread(times['snakemake-slurm'])} |",
    ]
    if probe:
        lines.append(f"| `scontrol show config` alone | | {spread(probe)} |")
    body = "\n".join(lines)
    print(body)
    if args.output:
        replace_block(args.output, "slurm-startup", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
