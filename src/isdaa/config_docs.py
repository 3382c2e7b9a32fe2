"""Render config/README.md from the schema, so the key reference never drifts from it.

    python -m isdaa.config_docs > config/README.md
"""

from __future__ import annotations

import json

from isdaa.config import load_schema

INTRO = """# Configuration reference

`config/config.yaml` is the embedded default: the controlled toy study, offline on a
CPU. Run another configuration with `snakemake --configfile my.yaml ...`; a config
file given that way replaces the default one, so start from a copy of it. Keys left
out take the defaults below. Every config is checked against
`workflow/schemas/config.schema.yaml` before any job starts; an error names the key
and the value.

Changing a key reruns exactly the jobs whose settings it changes: a beta or seed
added to `grid` trains only the new cells (then re-aggregates and re-plots); a change
under `preference_training` retrains every cell; a change under `sft` reruns
everything downstream of SFT.

This file is generated from the schema (`python -m isdaa.config_docs > config/README.md`);
a test fails when the two disagree.
"""


def _type(spec: dict) -> str:
    if "$ref" in spec:
        return {"positive_int": "integer >= 1", "learning_rate": "number > 0"}[spec["$ref"].rsplit("/", 1)[1]]
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


def _default(spec: dict) -> str:
    if "default" not in spec:
        return "required" if spec.get("_required") else "-"
    return "`" + json.dumps(spec["default"]) + "`"


def _rows(properties: dict, prefix: str, required=()):
    for name, spec in properties.items():
        spec = dict(spec, _required=name in required)
        key = f"{prefix}{name}"
        description = " ".join(spec.get("description", "").split())
        yield f"| `{key}` | {_type(spec)} | {_default(spec)} | {description} |"


def render() -> str:
    schema = load_schema()
    out = [INTRO]
    for name, spec in schema["properties"].items():
        out.append(f"## `{name}`\n")
        out.append(" ".join(spec.get("description", "").split()) + "\n")
        required = schema.get("required", [])
        if name in required:
            out.append("Required.\n")
        table = ["| key | type | default | meaning |", "|---|---|---|---|"]
        if "properties" in spec:
            table += _rows(spec["properties"], f"{name}.", spec.get("required", []))
        elif isinstance(spec.get("additionalProperties"), dict):
            entry = spec["additionalProperties"]
            table += _rows(entry["properties"], f"{name}.<name>.", entry.get("required", []))
        else:
            table.append(f"| `{name}` | {_type(spec)} | {_default(dict(spec, _required=name in required))} | see above |")
        out.append("\n".join(table) + ("\n" if table else ""))
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
