"""Running Snakemake on the project from tests, in a scratch working directory."""

import copy
import os
import re
import subprocess

import yaml
from conftest import BIN, REPO, default_config



def write_config(workdir, config: dict | None = None, name: str = "config.yaml"):
    """Write a whole config (default: config/config.yaml's) into `workdir`."""
    path = workdir / name
    path.write_text(yaml.safe_dump(default_config() if config is None else config, sort_keys=False, allow_unicode=True))
    return path


def with_task(config: dict, **sections) -> dict:
    """A copy of `config` with whole sections of its only task replaced, e.g.
    `with_task(config, grid={...})`."""
    out = copy.deepcopy(config)
    (name,) = out["tasks"]
    out["tasks"][name].update(copy.deepcopy(sections))
    return out


def snakemake_command(workdir, *args, configfile=None) -> list:
    return [BIN / "snakemake", "-s", REPO / "Snakefile", "-d", workdir, "--configfile",
            configfile or workdir / "config.yaml", *args]


def snakemake(workdir, *args, check=True, configfile=None, env=None):
    env = dict(env or os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(snakemake_command(workdir, *args, configfile=configfile), capture_output=True, text=True,
                         env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(map(str, args))} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


JOB = re.compile(r"^(?:local)?rule (\w+):$")


def planned_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would execute."""
    jobs, rule = set(), None
    for line in dry_run_output.splitlines():
        match = JOB.match(line.strip())
        if match:
            if rule:
                jobs.add((rule, ""))
            rule = match[1]
        elif rule and line.strip().startswith("wildcards:"):
            jobs.add((rule, line.strip().removeprefix("wildcards:").strip()))
            rule = None
        elif rule and line.strip().startswith("reason:") and "wildcards" not in line:
            pass
    if rule:
        jobs.add((rule, ""))
    return jobs


def job_stats(dry_run_output: str) -> dict[str, int]:
    stats, inside = {}, False
    for line in dry_run_output.splitlines():
        if line.startswith("Job stats:"):
            inside = True
        elif inside:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                stats[parts[0]] = int(parts[1])
            elif stats and not parts:
                break
    return stats
