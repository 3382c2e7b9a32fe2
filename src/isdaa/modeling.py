"""Model creation, loading and saving (`save_pretrained` folders only)."""

from __future__ import annotations

from pathlib import Path


def build_model(tokenizer, settings: dict, disallowed_token_ids: list[int], seed: int):
    """A small `LlamaForCausalLM` sized by the config's `model:` section."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings["hidden_size"],
        num_hidden_layers=settings["num_layers"],
        num_attention_heads=settings["num_heads"],
        num_key_value_heads=settings["num_heads"],
        intermediate_size=settings["intermediate_size"],
        max_position_embeddings=settings["max_positions"],
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    # Stored with the model so that sampling and every log-prob agree on the support.
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        suppress_tokens=list(disallowed_token_ids),
    )
    return model


def disallowed_tokens(model) -> list[int]:
    return list(model.generation_config.suppress_tokens or [])


def load_model(path, device: str = "cpu", dtype: str = "float32"):
    import torch
    from transformers import AutoModelForCausalLM

    if not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"{path}: not a saved model folder (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    return model.to(device).eval()


def load_tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def save(model, tokenizer, path) -> None:
    """Write into a temporary sibling and rename, so a folder is either complete or absent."""
    import shutil

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
