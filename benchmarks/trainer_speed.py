"""Per-step time of our preference trainer against TRL's DPOTrainer.

    python benchmarks/trainer_speed.py --output docs/benchmarks.md

Same tiny model (the default config's size), same toy pairs, same batch, one torch
thread. Each round runs every configuration once, in a rotated order (interleaved);
a run's per-step time is the mean over the steps after a warm-up. The table reports
the median over rounds. It also counts the reference forward passes over the
training set that a grid of N cells needs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from isdaa import modeling, runtime  # noqa: E402
from isdaa.checkpoints import build_causal_lm  # noqa: E402
from isdaa.config import cell_config, load_config, task_config  # noqa: E402
from isdaa.io import (
    replace_block,  # noqa: E402
    write_parquet,  # noqa: E402
)
from isdaa.logprobs import sequence_logps  # noqa: E402
from isdaa.preference_training import build_trainer  # noqa: E402
from isdaa.tasks import toy  # noqa: E402

WARMUP = 5


class StepTimer(TrainerCallback):
    def __init__(self):
        self.ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())

    def per_step(self) -> float:
        ends = self.ends[WARMUP:]
        return (ends[-1] - ends[0]) / (len(ends) - 1)


def make_world(root: Path, task: dict, n_pairs: int):
    """An untrained model of the default size, toy pairs and their reference log-probs."""
    tokenizer = toy.build_tokenizer()
    model = build_causal_lm(tokenizer, task["model"]["build"], seed=0,
                            disallowed_token_ids=toy.disallowed_response_tokens(tokenizer))
    modeling.save(model, tokenizer, root / "sft")
    records = toy.generate_split(0, "sft", 2 * n_pairs, toy.ToySettings(), with_demos=True)
    prompts = [r["prompt"] for r in records[:n_pairs]]
    chosen = [r["completion"].strip() for r in records[:n_pairs]]
    rejected = [r["completion"].strip() for r in records[n_pairs:]]
    ids = {name: tokenizer(texts, add_special_tokens=False)["input_ids"]
           for name, texts in (("prompt_ids", prompts), ("chosen_ids", chosen), ("rejected_ids", rejected))}
    prefs = pd.DataFrame({"pair_id": np.arange(n_pairs), "prompt": prompts, "chosen": chosen, "rejected": rejected,
                          **ids})
    write_parquet(prefs, root / "preferences.parquet")
    pad = tokenizer.pad_token_id
    write_parquet(pd.DataFrame({
        "pair_id": prefs["pair_id"],
        "reference_chosen_logp": sequence_logps(model, ids["prompt_ids"], ids["chosen_ids"], pad_token_id=pad),
        "reference_rejected_logp": sequence_logps(model, ids["prompt_ids"], ids["rejected_ids"], pad_token_id=pad),
    }), root / "reference_logps.parquet")
    return prefs, sum(p.numel() for p in model.parameters())


def ours(root, config, method, steps, batch):
    cell = cell_config(config, method, "0.1", 1)
    cell["training"].update(batch_size=batch, epochs=1, logging_steps=steps, save_steps=10**6)
    cell["paths"].update(sft_model=str(root / "sft"), preferences=str(root / "preferences.parquet"),
                         reference_logps=str(root / "reference_logps.parquet"), checkpoints=str(root / "ckpt"))
    trainer = build_trainer(cell)
    trainer.args.max_steps = steps
    return trainer


def trl(root, prefs, config, steps, batch, precompute, reference=None, fresh_fingerprint=False):
    """TRL's DPOTrainer (sigmoid loss) on the same model, pairs and optimizer settings."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    settings = config["preference_training"]
    policy = modeling.load_model(root / "sft")
    policy.train()
    args = DPOConfig(
        output_dir=str(root / "trl"), loss_type=["sigmoid"], beta=0.1, per_device_train_batch_size=batch,
        learning_rate=settings["learning_rate"], lr_scheduler_type=settings["lr_scheduler_type"],
        max_grad_norm=settings["max_grad_norm"], weight_decay=0.0, max_steps=steps, logging_steps=steps,
        save_strategy="no", precompute_ref_log_probs=precompute, activation_checkpointing=False, max_length=None,
        bf16=False, use_cpu=True, report_to=[], seed=1, data_seed=1, disable_tqdm=True,
    )
    pairs = prefs[["prompt", "chosen", "rejected"]]
    if fresh_fingerprint:
        # TRL caches precomputed log-probs on disk by dataset fingerprint; a column unique
        # to this call forces the pass instead of reading the cache.
        pairs = pairs.assign(nonce=time.time_ns())
    return DPOTrainer(model=policy, ref_model=reference or modeling.load_model(root / "sft"), args=args,
                      train_dataset=Dataset.from_pandas(pairs, preserve_index=False),
                      processing_class=modeling.load_tokenizer(root / "sft"))


def count_trl_reference_batches(root, prefs, config, batch) -> int:
    """Reference forward batches one TRL trainer with precompute runs before training."""
    reference = modeling.load_model(root / "sft")
    calls = []
    # A hook on the decoder body counts every forward, however TRL reaches the model
    # (it patches `forward` for its fused log-prob path, bypassing wrappers).
    reference.get_decoder().register_forward_pre_hook(lambda module, inputs: calls.append(1))
    trl(root, prefs, config, steps=1, batch=batch, precompute=True, reference=reference, fresh_fingerprint=True)
    return len(calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="markdown file whose trainer-benchmark block is replaced")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64, help="pairs per step")
    args = parser.parse_args()
    runtime.setup(threads=1, seed=0)
    os.environ["TQDM_DISABLE"] = "1"
    study = load_config(REPO / "config" / "config.yaml")
    config = task_config(study, study["headline_task"])
    root = REPO / "benchmarks" / "runs" / f"trainer-{datetime.now():%Y%m%d-%H%M%S}"
    root.mkdir(parents=True)
    n_pairs = args.steps * args.batch
    prefs, n_params = make_world(root, config, n_pairs)

    builders = {
        "ours DPO": lambda: ours(root, config, "dpo", args.steps, args.batch),
        "ours IS-DPO": lambda: ours(root, config, "is_dpo", args.steps, args.batch),
        "TRL DPOTrainer, live reference": lambda: trl(root, prefs, config, args.steps, args.batch, False),
        "TRL DPOTrainer, precompute_ref_log_probs": lambda: trl(root, prefs, config, args.steps, args.batch, True),
    }
    names = list(builders)
    times = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            trainer = builders[name]()
            timer = StepTimer()
            trainer.add_callback(timer)
            trainer.train()
            times[name].append(timer.per_step())
            print(f"round {r + 1}: {name}: {1000 * times[name][-1]:.1f} ms/step", flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    trl_batches = count_trl_reference_batches(root, prefs, config, args.batch)
    steps_per_pass = -(-n_pairs // args.batch)

    ratios = [
        ("ours DPO / TRL, live reference", median["ours DPO"] / median["TRL DPOTrainer, live reference"], 0.80),
        ("ours DPO / TRL, precompute_ref_log_probs",
         median["ours DPO"] / median["TRL DPOTrainer, precompute_ref_log_probs"], 1.05),
        ("ours IS-DPO / ours DPO", median["ours IS-DPO"] / median["ours DPO"], 1.03),
    ]
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d}, one torch thread, the default config's model "
        f"({n_params} parameters), "
        f"{args.batch} pairs per step, {args.steps} steps per run (per-step time = mean after {WARMUP} warm-up "
        f"steps), {args.rounds} interleaved rounds. Command: `make bench`.",
        "",
        "| trainer | median ms/step | runs (ms/step) |",
        "|---|---:|---|",
    ]
    for name in names:
        runs = ", ".join(f"{1000 * t:.1f}" for t in times[name])
        lines.append(f"| {name} | {1000 * median[name]:.1f} | {runs} |")
    lines += ["", "| ratio | measured | target | met |", "|---|---:|---:|---|"]
    for label, value, target in ratios:
        lines.append(f"| {label} | {value:.3f} | <= {target:.2f} | {'yes' if value <= target else 'NO'} |")
    lines += [
        "",
        f"Reference passes over the training set for a grid of N cells: ours 1 (the `reference_logps` rule; a cell "
        f"loads no reference model), TRL with `precompute_ref_log_probs` N (each trainer ran {trl_batches} reference "
        f"forward batches over {n_pairs} pairs, one full pass of {steps_per_pass} batches), TRL with a live reference "
        f"one reference forward per training step in every cell.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.output:
        replace_block(args.output, "trainer-benchmark", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
