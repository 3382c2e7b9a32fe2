"""The cost of config/paper.yaml on paper: GPU-hours per stage and for the whole grid, and
the disk its models take, from a FLOP model. Nothing here has run on a GPU: the stage
sizes come from the config, the dataset sizes and token lengths are stated assumptions,
and the GPU's speed is a peak times an assumed utilisation (MFU), each an option.

    python benchmarks/paper_cost.py --output docs/benchmarks.md

FLOP model (N parameters, T tokens; attention's quadratic term is left out, ~3% at
these lengths): training 6·N·T, 8·N·T with activation checkpointing (the forward pass
runs again in the backward pass); a forward pass 2·N·T; sampling 2·N per prompt token
(prefill) and per generated token (decode). GPU-seconds of a pass = FLOPs / (peak x
MFU); a job adds a fixed start-up (imports, weights, vLLM's engine) on each of its GPUs.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from isdaa.config import cell_config, dynamics_cells, grid, load_config, method_training, rule_resources, snapshot_epochs, tasks
from isdaa.io import replace_block

REPO = Path(__file__).resolve().parents[1]

# The SmolLM2-135M run of docs/benchmarks.md (benchmarks/smollm2_run.py), 2026-11-29, 2 CPU
# cores: its preference training took ~12 s per step of 8 pairs. Its prompts: the toy's
# 20-word documents in SmolLM2's chat template with the run's system prompt, 46.9 tokens on
# average (64 train prompts, measured 2026-12-04 with the SmolLM2 tokenizer of
# tests/data/checkpoints/tiny-llama-smollm2); responses at most 48 new tokens.
SMOLLM2 = {"params": 134.5e6, "step_s": 12.0, "pairs_per_step": 8, "prompt_tokens": 46.9, "response_tokens": 48}
# This machine's CPU (lscpu: AMD EPYC family 26, Zen 5, 2 cores, BogoMIPS 5192): two 512-bit
# FMA pipes per core = 64 float32 FLOP per cycle, at the ~2.6 GHz base clock (turbo unknown).
CPU_PEAK_FLOPS = 2 * 64 * 2.6e9


@dataclass
class Pass:
    """One kind of work in a job: `tokens` through a model of `params` parameters at
    `flops_per_param_token` FLOPs each, running at `mfu` of the GPU's peak."""

    what: str
    params: float
    tokens: float
    flops_per_param_token: float
    mfu: float

    @property
    def flops(self) -> float:
        return self.flops_per_param_token * self.params * self.tokens


@dataclass
class Stage:
    """A rule of the workflow: `jobs` alike jobs of `gpus` GPUs each, each doing `passes`."""

    rule: str
    jobs: int
    gpus: int
    passes: list[Pass] = field(default_factory=list)

    def compute_s(self, peak: float) -> float:
        """GPU-seconds of one job's FLOPs (the same on 1 or 4 GPUs: perfect data-parallel scaling)."""
        return sum(p.flops / (peak * p.mfu) for p in self.passes)

    def gpu_hours_per_job(self, peak: float, overhead_s: float) -> float:
        return (self.compute_s(peak) + overhead_s * self.gpus) / 3600

    @property
    def tokens(self) -> float:
        return sum(p.tokens for p in self.passes)

    @property
    def flops(self) -> float:
        return sum(p.flops for p in self.passes)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "paper.yaml")
    parser.add_argument("--task", default="tldr")
    parser.add_argument("--output", type=Path, help="markdown file whose paper-cost block is replaced")
    data = parser.add_argument_group("dataset sizes and token lengths (assumptions: not readable without the hub)")
    data.add_argument("--sft-rows", type=int, default=116_722,
                      help="rows of the TL;DR SFT train split before the config's drop_last_rows")
    data.add_argument("--pref-comparisons", type=int, default=92_858, help="rows of the TL;DR preference train split")
    data.add_argument("--pref-prompts", type=int, default=None,
                      help="distinct prompts among them (default: every comparison its own prompt, an upper bound)")
    data.add_argument("--query-tokens", type=float, default=350, help="mean TL;DR query length, Llama-3 tokens")
    data.add_argument("--summary-tokens", type=float, default=37,
                      help="mean SFT reference summary, Llama-3 tokens with the end token")
    data.add_argument("--sample-tokens", type=float, default=48,
                      help="mean sampled response (relabelling and evaluation), tokens with the end token")
    data.add_argument("--padding", type=float, default=1.3,
                      help="padded tokens / real tokens in transformers' batches (training, forward passes)")
    model = parser.add_argument_group("models")
    model.add_argument("--policy-params", type=float, default=3.21e9, help="Llama-3.2-3B")
    model.add_argument("--rm-params", type=float, default=7.5e9,
                       help="Llama-3.1-8B without its LM head, with a score head")
    gpu = parser.add_argument_group("GPU (assumptions)")
    gpu.add_argument("--peak-tflops", type=float, default=989, help="bf16 dense peak of an H100/H200 SXM")
    gpu.add_argument("--mfu-train", type=float, default=0.35, help="training (DDP, bf16 autocast)")
    gpu.add_argument("--mfu-forward", type=float, default=0.30,
                     help="transformers forward passes (log-probs, reward model) and vLLM's prefill")
    gpu.add_argument("--mfu-decode", type=float, default=0.10, help="vLLM decoding (memory-bound; eager mode)")
    gpu.add_argument("--job-overhead-min", type=float, default=3.0,
                     help="start-up of a GPU job on each of its GPUs: imports, weights from disk, vLLM's engine")
    return parser.parse_args(argv)


def task_sizes(config_path: Path, task_name: str) -> dict:
    """What config/paper.yaml fixes: the grid, the epochs, samples and pairs per prompt,
    lengths, evaluation sizes, snapshots evaluated, GPUs per rule."""
    config = load_config(config_path, check_availability=False)
    task = tasks(config)[task_name]
    cells = grid(task)
    training = {c.method: method_training(task, c.method) for c in cells}
    snapshots = {c: snapshot_epochs(training[c.method]["epochs"], training[c.method]["snapshots_per_epoch"])
                 for c in cells}
    # A cell that saves none (`snapshot_cells: dynamics`, outside `dynamics`).
    saving = {c for c in cells if cell_config(task, c.method, c.beta, c.seed).get("snapshots", True)}
    dynamics = dynamics_cells(task)
    gpus = {rule: int(rule_resources(config, task_name, rule)["gpu"])
            for rule in ("sft", "relabel_pairs", "score_references", "reference_logps", "train_preference", "sample",
                         "score")}
    epochs = {training[c.method]["epochs"] for c in cells}
    if len(epochs) != 1:
        raise ValueError(f"{config_path}: cells train for different epochs {sorted(epochs)}; this model assumes one")
    return {
        "config": config, "task": task, "cells": len(cells), "gpus": gpus,
        "sft_epochs": task["sft"]["epochs"], "sft_checkpointing": task["sft"]["activation_checkpointing"],
        "sft_drop_last_rows": task["data"]["sft"]["drop_last_rows"] or 0,
        "sft_max_rows": task["data"]["sft"]["max_rows"],
        "pref_epochs": epochs.pop(),
        "pref_checkpointing": {training[c.method]["activation_checkpointing"] for c in cells} == {True},
        "preference_data": task["preference_data"], "evaluation": task["evaluation"],
        "snapshots_saved": sum(len(snapshots[c]) for c in saving),
        "snapshots_per_cell": max(len(s) for s in snapshots.values()),
        "cells_saving_snapshots": len(saving),
        "snapshots_evaluated": sum(len(snapshots[c]) for c in dynamics),
        "dynamics_cells": len(dynamics),
        "sft_enabled": task["sft"]["enabled"],
    }


def check_lengths(args, sizes: dict) -> None:
    pd_, ev = sizes["preference_data"], sizes["evaluation"]
    if args.query_tokens > (pd_["max_prompt_length"] or math.inf):
        raise ValueError(f"--query-tokens {args.query_tokens} exceeds preference_data.max_prompt_length "
                         f"{pd_['max_prompt_length']}")
    longest = max(pd_["max_new_tokens"], ev["max_new_tokens"])
    if args.sample_tokens > longest:
        raise ValueError(f"--sample-tokens {args.sample_tokens} exceeds max_new_tokens {longest}")


def distinct_prompts(args, sizes: dict) -> int:
    prompts = args.pref_prompts if args.pref_prompts is not None else args.pref_comparisons
    limit = sizes["preference_data"]["max_prompts"]
    return min(prompts, limit) if limit else prompts


def stages(args, sizes: dict, sample_tokens: float, prompts: int) -> tuple[list[Stage], dict]:
    """The GPU stages of one run of the whole config with `prompts` distinct preference
    prompts, and the counts they follow from."""
    n, rm = args.policy_params, args.rm_params
    q, s, pad = args.query_tokens, sample_tokens, args.padding
    pdata, ev = sizes["preference_data"], sizes["evaluation"]
    train_factor = lambda checkpointing: 8 if checkpointing else 6  # noqa: E731
    sft_rows = args.sft_rows - sizes["sft_drop_last_rows"]
    if sizes["sft_max_rows"]:
        sft_rows = min(sft_rows, sizes["sft_max_rows"])
    samples = prompts * pdata["samples_per_prompt"]
    pairs_per_prompt = min(pdata["pairs_per_prompt"] or math.inf,
                           math.comb(pdata["samples_per_prompt"], 2) if pdata["pairing"] == "combinations"
                           else pdata["samples_per_prompt"] // 2)
    pairs = prompts * pairs_per_prompt
    eval_samples = ev["max_prompts"] * ev["samples_per_prompt"]
    evaluated = 1 + sizes["cells"] + sizes["snapshots_evaluated"]  # the SFT policy, every cell, the snapshots
    g = sizes["gpus"]
    out = []
    if sizes["sft_enabled"]:
        out.append(Stage("sft", 1, g["sft"], [
            Pass("train on demonstrations", n, sft_rows * sizes["sft_epochs"] * (q + args.summary_tokens) * pad,
                 train_factor(sizes["sft_checkpointing"]), args.mfu_train)]))
    if pdata["mode"] == "relabel":
        relabel = [Pass("vLLM prefill (each sample's prompt: prefix caching is off)", n, samples * q, 2,
                        args.mfu_forward),
                   Pass("vLLM decode", n, samples * s, 2, args.mfu_decode),
                   Pass("gold reward model", rm, samples * (q + s + 1) * pad, 2, args.mfu_forward)]
        if pdata["temperature"] != 1.0:
            relabel.append(Pass(f"behaviour log-probs at T {pdata['temperature']:g}", n, samples * (q + s) * pad, 2,
                                args.mfu_forward))
        out.append(Stage("relabel_pairs", 1, g["relabel_pairs"], relabel))
    out.append(Stage("score_references", 1, g["score_references"], [
        Pass("gold reward of the reference summaries", rm, ev["max_prompts"] * (q + args.summary_tokens + 1) * pad, 2,
             args.mfu_forward)]))
    out.append(Stage("reference_logps", 1, g["reference_logps"], [
        Pass("reference log-probs, chosen and rejected", n, 2 * pairs * (q + s) * pad, 2, args.mfu_forward)]))
    out.append(Stage("train_preference", sizes["cells"], g["train_preference"], [
        Pass("train on pairs (chosen and rejected)", n, 2 * pairs * sizes["pref_epochs"] * (q + s) * pad,
             train_factor(sizes["pref_checkpointing"]), args.mfu_train)]))
    out.append(Stage("sample", evaluated, g["sample"], [
        Pass("vLLM prefill", n, eval_samples * q, 2, args.mfu_forward),
        Pass("vLLM decode", n, eval_samples * s, 2, args.mfu_decode)]))
    out.append(Stage("score", evaluated, g["score"], [
        Pass("reference log-probs", n, eval_samples * (q + s) * pad, 2, args.mfu_forward),
        Pass("gold reward model", rm, eval_samples * (q + s + 1) * pad, 2, args.mfu_forward)]))
    counts = {"sft_rows": sft_rows, "prompts": prompts, "samples": samples, "pairs": pairs,
              "pairs_per_prompt": pairs_per_prompt, "eval_samples": eval_samples, "evaluated": evaluated}
    return out, counts


def total_gpu_hours(table: list[Stage], peak: float, overhead_s: float) -> float:
    return sum(st.jobs * st.gpu_hours_per_job(peak, overhead_s) for st in table)


def disk(args, sizes: dict) -> dict:
    """Bytes on disk: models saved in float32 (the training dtype: float32 master weights)."""
    model = 4 * args.policy_params
    per_cell = model * (1 + sizes["snapshots_per_cell"])
    return {
        "model": model, "per_cell": per_cell, "grid": sizes["cells"] * model + model * sizes["snapshots_saved"],
        "snapshots_grid": model * sizes["snapshots_saved"], "snapshots_needed": model * sizes["snapshots_evaluated"],
        # A training checkpoint: float32 weights and AdamW's two float32 moments; with
        # save_total_limit 1 the next is written before the last is deleted.
        "checkpoint": 3 * model,
    }


def gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB" if x < 1e12 else f"{x / 1e12:,.2f} TB"


def sci(x: float) -> str:
    return f"{x:.2e}".replace("e+", "e")


def command(argv: list[str]) -> str:
    return " ".join(["python benchmarks/paper_cost.py", *map(shlex.quote, argv)])


def render(args, argv: list[str]) -> str:
    sizes = task_sizes(args.config, args.task)
    check_lengths(args, sizes)
    peak, overhead_s = args.peak_tflops * 1e12, args.job_overhead_min * 60
    prompts = distinct_prompts(args, sizes)
    table, counts = stages(args, sizes, args.sample_tokens, prompts)
    pdata, ev = sizes["preference_data"], sizes["evaluation"]
    longest = max(pdata["max_new_tokens"], ev["max_new_tokens"])
    worst, _ = stages(args, sizes, longest, prompts)
    total = total_gpu_hours(table, peak, overhead_s)
    # Every stage is linear in the number of distinct prompts (or does not depend on it).
    fixed = total_gpu_hours(stages(args, sizes, args.sample_tokens, 0)[0], peak, overhead_s)
    startup = sum(st.jobs * st.gpus * overhead_s for st in table) / 3600
    d = disk(args, sizes)
    rel = args.config.resolve().relative_to(REPO) if args.config.resolve().is_relative_to(REPO) else args.config
    lines = [
        f"Computed, not measured: no GPU has run any of this. Config `{rel}`, task `{args.task}`. "
        f"Command: `{command(argv)}`.",
        "",
        f"**Whole config: {total:,.0f} GPU-hours** ({total - startup:,.0f} of computation, {startup:,.0f} of job "
        f"start-ups) at {args.peak_tflops:g} TFLOP/s peak; "
        f"**disk: {gb(d['grid'] + d['model'])}** of saved models.",
        "",
        "| stage | jobs | GPUs per job | tokens per job | FLOPs per job | GPU-hours per job | GPU-hours total "
        "| wall per job (min) | config runtime (min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    short = []  # rules whose runtime limit is below the estimate
    for st in table:
        per_job = st.gpu_hours_per_job(peak, overhead_s)
        runtime = rule_resources(sizes["config"], args.task, st.rule)["runtime"]
        wall_min = per_job / st.gpus * 60
        over = wall_min > runtime
        short.extend([st.rule] if over else [])
        lines.append(f"| {st.rule} | {st.jobs} | {st.gpus} | {sci(st.tokens)} | {sci(st.flops)} | {per_job:,.2f} | "
                     f"{st.jobs * per_job:,.1f} | {wall_min:,.0f} | {runtime}{' **(short)**' if over else ''} |")
    lines.append(f"| **total** | {sum(st.jobs for st in table)} | | | {sci(sum(st.jobs * st.flops for st in table))} "
                 f"| | **{total:,.0f}** | | |")
    cell = next(st for st in table if st.rule == "train_preference")
    cell_wall = cell.gpu_hours_per_job(peak, overhead_s) / cell.gpus
    lines += [
        "",
        f"A grid cell on {cell.gpus} GPUs: ~{cell_wall:.1f} h of wall time; the grid is "
        f"{cell.jobs * cell.gpu_hours_per_job(peak, overhead_s) / total:.0%} of the whole. "
        f"If every sample ran to max_new_tokens ({longest}): {total_gpu_hours(worst, peak, overhead_s):,.0f} "
        "GPU-hours. Relabelling, the reference pass and training scale with the number of distinct "
        f"preference prompts P (here {counts['prompts']:,}, an upper bound: see below): the whole is "
        f"{fixed:,.0f} + {total - fixed:,.0f} x P/{counts['prompts']:,} GPU-hours "
        f"(P = {counts['prompts'] // 4:,}: {fixed + (total - fixed) / 4:,.0f}). Only GPU jobs are counted: "
        "the data preparation, tables and figures run on CPUs. The config's runtime limits (last column) "
        "are minutes of wall time per job"
        + (f"; {', '.join(short)} would be killed at {'its' if len(short) == 1 else 'their'} limit if these "
           "estimates hold (a profile's set-resources can raise it)." if short else "."),
        "",
        "What each job does (tokens per job; padding included where transformers pads):",
        "",
        "| stage | pass | model | tokens | FLOPs/(param·token) | MFU |",
        "|---|---|---|---:|---:|---:|",
    ]
    for st in table:
        for p in st.passes:
            name = "policy (3B)" if p.params == args.policy_params else "reward model (8B)"
            lines.append(f"| {st.rule} | {p.what} | {name} | {sci(p.tokens)} | {p.flops_per_param_token:g} | "
                         f"{p.mfu:.0%} |")
    lines += [
        "",
        f"Disk: a saved policy is {gb(d['model'])} in float32 (the training dtype; a bfloat16 save would halve "
        f"every figure here). A cell saves its model, and {sizes['cells_saving_snapshots']} of the {sizes['cells']} "
        f"cells also their {sizes['snapshots_per_cell']} snapshots ({gb(d['per_cell'])} for such a cell): "
        f"{sizes['cells']} cells = {gb(d['grid'])}, plus the SFT policy ({gb(d['model'])}). Of the "
        f"{gb(d['snapshots_grid'])} of snapshots, the {sizes['dynamics_cells']} `dynamics` cells' "
        f"{sizes['snapshots_evaluated']} ({gb(d['snapshots_needed'])}) are evaluated "
        "(`preference_training.snapshot_cells: dynamics` saves no others; with `all`, every cell would save its "
        f"{sizes['snapshots_per_cell']}). While a cell trains, its checkpoint (weights and AdamW moments, float32) takes "
        f"{gb(d['checkpoint'])}, twice that while the next one is written; it is deleted when the cell ends. "
        "Not counted: the hub's copies of the base model (~6.4 GB, bf16) and the reward model (~16 GB), "
        "and the data and sample files (token ids: well under 1 GB each).",
        "",
        "Read from the config: " + "; ".join([
            f"{sizes['cells']} cells",
            f"SFT {sizes['sft_epochs']:g} epoch{'s' if sizes['sft_epochs'] != 1 else ''}, activation checkpointing "
            f"{'on' if sizes['sft_checkpointing'] else 'off'}, drop_last_rows {sizes['sft_drop_last_rows']:,}",
            f"preference training {sizes['pref_epochs']:g} epoch, activation checkpointing "
            f"{'on' if sizes['pref_checkpointing'] else 'off'}",
            f"relabelling: {pdata['samples_per_prompt']} samples per prompt at T {pdata['temperature']:g}, "
            f"{pdata['pairing']} pairing, {counts['pairs_per_prompt']} pairs per prompt, max_new_tokens "
            f"{pdata['max_new_tokens']}, prompt/length limits {pdata['max_prompt_length']}/{pdata['max_length']}",
            f"evaluation: {ev['max_prompts']} prompts x {ev['samples_per_prompt']} samples, max_new_tokens "
            f"{ev['max_new_tokens']}, {counts['evaluated']} policies (SFT, {sizes['cells']} cells, "
            f"{sizes['snapshots_evaluated']} snapshots of {sizes['dynamics_cells']} `dynamics` cells)",
            "GPUs per job " + ", ".join(f"{r} {n}" for r, n in sizes["gpus"].items()),
        ]) + ".",
        "",
        "Assumed (options of the script):",
        f"- SFT rows: {args.sft_rows:,} in the TL;DR SFT train split (the dataset card's size), minus the "
        f"{sizes['sft_drop_last_rows']:,} the authors drop = {counts['sft_rows']:,}; none dropped as over-length "
        "(2,048-token limit).",
        f"- Preference prompts: {counts['prompts']:,} distinct prompts relabelled"
        + (" (`--pref-prompts`)." if args.pref_prompts else
           f", i.e. every one of the {args.pref_comparisons:,} comparisons of the train split its own prompt. That "
           "is an upper bound: OpenAI collected several comparisons per post, so the split holds fewer distinct "
           "queries, a number not readable here (relabel_pairs drops repeats). Pass `--pref-prompts`.")
        + f" Pairs: {counts['prompts']:,} x {counts['pairs_per_prompt']} = {counts['pairs']:,}; none dropped "
        "(identical samples would lower it).",
        f"- Mean query {args.query_tokens:g} Llama-3 tokens: the query is capped at 512 Pythia tokens (the post cut "
        "at a newline until it fits) and Llama-3's 128k vocabulary spends somewhat fewer tokens than Pythia's on "
        "English; unmeasured (neither the data nor Llama-3's tokenizer is here).",
        f"- Mean reference summary {args.summary_tokens:g} tokens with the end token: TL;DR's reference summaries "
        "were filtered to 24-48 GPT-2 tokens (Stiennon et al., 2020).",
        f"- Mean sampled response {args.sample_tokens:g} tokens (relabelling and evaluation; cap "
        f"{longest}): the SFT policy imitates 24-48-token summaries; over-optimised policies run longer "
        "(the worst case is given above).",
        f"- Padding: x{args.padding:g} on transformers' batches (each padded to its longest sequence; queries vary "
        "in length). vLLM does not pad.",
        f"- Parameters: policy {args.policy_params:.3g} (Llama-3.2-3B, tied embeddings: the LM head's matmul "
        f"counted once), reward model {args.rm_params:.3g} (Llama-3.1-8B without its LM head, a score head).",
        f"- GPU: {args.peak_tflops:g} TFLOP/s bf16 dense peak (H100/H200 SXM), at MFU {args.mfu_train:.0%} for "
        f"training, {args.mfu_forward:.0%} for forward passes and vLLM's prefill, {args.mfu_decode:.0%} for "
        "decoding (memory-bound; our sampler runs vLLM in eager mode, without CUDA graphs). Data-parallel training "
        "on 4 GPUs is assumed to scale perfectly (GPU-hours do not depend on the GPU count).",
        f"- A GPU job's start-up: {args.job_overhead_min:g} min on each of its GPUs (imports, weights from local "
        "disk, vLLM's engine); on this CPU machine imports alone take 6-9 s of every job. It is most of an "
        "evaluation job's cost: evaluating a policy is ~1e15 FLOPs, seconds of a GPU.",
        "",
        calibration(args),
    ]
    return "\n".join(lines)


def calibration(args) -> str:
    """What the measured CPU run implies about the FLOP model."""
    tokens = 2 * SMOLLM2["pairs_per_step"] * (SMOLLM2["prompt_tokens"] + SMOLLM2["response_tokens"])
    flops = 6 * SMOLLM2["params"] * tokens  # that run trained without activation checkpointing
    rate = flops / SMOLLM2["step_s"]
    return (
        "Calibration on this machine (the only measurement behind these numbers): the SmolLM2-135M run above trained "
        f"at ~{SMOLLM2['step_s']:g} s per step of {SMOLLM2['pairs_per_step']} pairs, {tokens:,.0f} tokens at most "
        f"({SMOLLM2['prompt_tokens']:g}-token prompts, responses of up to {SMOLLM2['response_tokens']} tokens): "
        f"6·N·T = {sci(flops)} FLOPs per step, so {rate / 1e9:.0f} GFLOP/s, about {rate / CPU_PEAK_FLOPS:.0%} of "
        f"this CPU's float32 peak ({CPU_PEAK_FLOPS / 1e9:.0f} GFLOP/s: 2 Zen 5 cores x 64 FLOP/cycle x 2.6 GHz). "
        "The same FLOP model with a utilisation near the assumed training MFU thus reproduces the one training "
        "measurement there is; it says nothing about a GPU's actual MFU, vLLM's decode speed or the start-up of a "
        "GPU job, which only a GPU run can measure (benchmarks/gpu_check.py records the per-stage times of one)."
    )


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        body = render(args, argv)
    except ValueError as error:  # an assumption that the config's limits rule out
        print(f"paper_cost: {error}", file=sys.stderr)
        return 2
    print(body)
    if args.output:
        replace_block(args.output, "paper-cost", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
