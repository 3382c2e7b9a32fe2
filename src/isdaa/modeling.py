"""Loading, checking and saving checkpoints (hub ids or `save_pretrained` folders).

The `check_*` functions are cheap (no torch import, files only): config validation
calls them on every Snakefile parse, so a bad path fails before any job starts.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.lower() in ("1", "true", "yes", "on")


def is_local(path: str) -> bool:
    """A local folder rather than a hub id: what exists on disk, or what cannot be a hub
    id (absolute, ./ ../ ~, more than one slash). A relative `org/name` that does not
    exist is taken for a hub id, as transformers does."""
    return Path(path).expanduser().is_dir() or not HUB_ID.match(path) or path.startswith((".", "/", "~"))


def checkpoint_file(path: str, filename: str):
    """A file of a checkpoint, local folder or hub id (from the local Hugging Face cache
    only); None when absent. Never touches the network."""
    if is_local(path):
        found = Path(path).expanduser() / filename
        return found if found.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(path, filename)
    return Path(found) if isinstance(found, str) else None


def read_json(path) -> dict | None:
    return json.loads(Path(path).read_text()) if path is not None and Path(path).is_file() else None


def download_command(repo_id: str, repo_type: str = "model", revision: str | None = None,
                     filename: str | None = None) -> str:
    """The `hf download` command line that puts a hub repository (or one of its files)
    into the local cache."""
    return " ".join(["hf", "download", *(["--repo-type", repo_type] if repo_type != "model" else []), repo_id,
                     *([filename] if filename else []), *(["--revision", revision] if revision else [])])


def deferred(path: str) -> bool:
    """A hub id that cannot be checked here: offline and not in the local cache. Config
    validation leaves it to the check before a real run (`isdaa.availability.require_available`),
    so that a machine without the cache (CI, a login node) can still plan the study."""
    return not is_local(path) and offline() and checkpoint_file(path, "config.json") is None \
        and checkpoint_file(path, "tokenizer_config.json") is None


def check_checkpoint(path: str) -> None:
    """Raise ValueError unless `path` is a model folder (with config.json) or a hub id
    that can be had (cached, or the hub reachable)."""
    if is_local(path):
        local = Path(path).expanduser()
        if not local.is_dir():
            raise ValueError(f"no such folder (relative paths are relative to the working directory {os.getcwd()})")
        if not (local / "config.json").exists():
            raise ValueError("not a saved model folder (no config.json)")
    elif offline() and checkpoint_file(path, "config.json") is None:
        raise ValueError("not a local folder, and not in the Hugging Face cache while HF_HUB_OFFLINE is set")


def has_chat_template(path: str) -> bool | None:
    """Whether a tokenizer checkpoint has a chat template; None when it cannot be known
    without downloading (a hub id that is not cached)."""
    if checkpoint_file(path, "chat_template.jinja") is not None:
        return True
    config = read_json(checkpoint_file(path, "tokenizer_config.json"))
    if config is None:
        return None if not is_local(path) else False
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: transformers uses "default"
        return any(isinstance(t, dict) and t.get("name") == "default" for t in template)
    return bool(isinstance(template, str) and template.strip())


def check_tokenizer(path: str, task: dict) -> None:
    """Raise ValueError when the tokenizer at `path` cannot serve `task`: missing, or
    without the chat template that `model.prompt_format: chat` needs."""
    if is_local(path):
        if not Path(path).expanduser().is_dir():
            raise ValueError("no such folder")
        if checkpoint_file(path, "tokenizer_config.json") is None and checkpoint_file(path, "tokenizer.json") is None:
            raise ValueError("no tokenizer in this folder (no tokenizer_config.json or tokenizer.json)")
    if task["model"]["prompt_format"] == "chat" and has_chat_template(path) is False:
        raise ValueError("this tokenizer has no chat template, which model.prompt_format 'chat' needs "
                         "(give one with a chat_template.jinja, or use prompt_format 'raw')")


def torch_dtype(name: str, device: str):
    """A torch dtype from its config name; `auto` is bfloat16 on a GPU, float32 on a CPU."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def load_model(path, device: str = "cpu", dtype: str = "float32", attn_implementation: str | None = None):
    """A causal LM in eval mode on `device`."""
    from transformers import AutoModelForCausalLM

    if Path(path).exists() and not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"{path}: not a saved model folder (no config.json)")
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype(dtype, device), **kwargs)
    return model.to(device).eval()


def load_policy(path, settings: dict, device: str, dtype: str | None = None):
    """A policy with the task's model settings (`isdaa.config.model_settings`)."""
    return load_model(path, device, dtype or settings["dtype"], settings.get("attn_implementation"))


def load_tokenizer(path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        # Padding is always masked out; any id will do, and eos is always there.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def disallowed_tokens(model) -> list[int]:
    """Tokens the policy never samples (its generation config's `suppress_tokens`):
    masked in sampling and in every log-prob, so both see the same distribution."""
    return list(model.generation_config.suppress_tokens or [])


def save(model, tokenizer, path) -> None:
    """Write into a temporary sibling and rename, so a folder is either complete or absent."""
    import shutil

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if model is not None:
        model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
