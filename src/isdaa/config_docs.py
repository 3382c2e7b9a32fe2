"""Render config/README.md from the schema, so the key reference never drifts from it.

    python -m isdaa.config_docs > config/README.md
"""

from __future__ import annotations

import json

from isdaa.config import load_schema

INTRO = """# Configuration reference

`config/config.yaml` is the embedded default: the controlled toy study, offline on a
CPU. Run another configuration with `snakemake --configfile my.yaml ...`: a config file
given that way is the whole study (nothing of the default is merged into it), so start
from a copy of one. Keys left out take the defaults below. Every config is checked
against `workflow/schemas/config.schema.yaml` before any job starts; an error names the
key and the value.

A config holds the shared `methods` and one or more `tasks`. A task is a whole study
under `results/<task>/`: its data, model, gold reward, recipes, grid and evaluation.
`headline_task` says whose figures are also written to `results/figures/`.

Changing a key reruns exactly the jobs whose settings it changes: a beta or seed
added to a grid trains only the new cells (then re-aggregates and re-plots); a change
under `evaluation` resamples and rescores every policy but retrains nothing; a change
under `plots` or a method's `label` redraws the figures only; a change under
`preference_training` retrains every cell; a change under `sft` reruns everything
downstream of SFT. Key order, and a default written out, change nothing. Settings of
speed, memory and bookkeeping (batch sizes under per-request seeds, vLLM's cache, threads,
GPUs, checkpoint and logging frequency) rerun nothing; so do the LLM judge's endpoint, key
variable, concurrency, retries, timeout, failure threshold and cache folder, while its
`model` and `parameters` re-judge, and its `price` redraws the benchmark table only
(docs/judges.md).

This file is generated from the schema (`python -m isdaa.config_docs > config/README.md`);
a test fails when the two disagree.
"""


def _type(spec: dict) -> str:
    kind = spec.get("type", "object")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if "enum" in spec:
        kind += " (" + ", ".join(map(str, spec["enum"])) + ")"
    if "exclusiveMinimum" in spec:
        kind += f" > {spec['exclusiveMinimum']}"
    elif "minimum" in spec:
        kind += f" >= {spec['minimum']}"
    if "maximum" in spec:
        kind += f" <= {spec['maximum']}"
    return kind


def _default(spec: dict, required: bool) -> str:
    if "default" not in spec:
        return "required" if required else "-"
    return "`" + json.dumps(spec["default"], ensure_ascii=False) + "`"


def _text(spec: dict) -> str:
    return " ".join(spec.get("description", "").split())


def _is_section(spec: dict) -> bool:
    return "properties" in spec or isinstance(spec.get("additionalProperties"), dict)


def _sections(spec: dict, key: str, required: bool, out: list) -> None:
    """One table per object with named keys; nested objects get their own section."""
    properties = spec.get("properties")
    if properties is None and isinstance(spec.get("additionalProperties"), dict):
        entry = spec["additionalProperties"]
        if _is_section(entry):
            _sections(entry, f"{key}.<name>", False, out)
            return
    out.append(f"## `{key}`\n")
    out.append(_text(spec) + "\n")
    if required:
        out.append("Required.\n")
    if properties is None:
        out.append(f"| key | type | default | meaning |\n|---|---|---|---|\n| `{key}` | {_type(spec)} | "
                   f"{_default(spec, required)} | see above |\n")
        return
    rows, nested = ["| key | type | default | meaning |", "|---|---|---|---|"], []
    for name, sub in properties.items():
        sub_required = name in spec.get("required", [])
        if _is_section(sub) and "training" != name and "per_method" != name:
            rows.append(f"| `{key}.{name}` | object | {_default(sub, sub_required)} | see `{key}.{name}` below |")
            nested.append((sub, f"{key}.{name}", sub_required))
        else:
            rows.append(f"| `{key}.{name}` | {_type(sub)} | {_default(sub, sub_required)} | {_text(sub)} |")
    out.append("\n".join(rows) + "\n")
    for sub, sub_key, sub_required in nested:
        _sections(sub, sub_key, sub_required, out)


def render() -> str:
    schema = load_schema()
    out = [INTRO]
    for name, spec in schema["properties"].items():
        _sections(spec, name, name in schema.get("required", []), out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
