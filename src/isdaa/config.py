"""Configuration: schema validation with defaults, the grid, and resolved cell configs.

The Snakefile and the CLI both go through `load_config` / `validate_config`, so a bad
config fails the same way everywhere, before any job starts, naming the key.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, fields
from pathlib import Path

import jsonschema
import yaml

from isdaa.losses import LossSpec

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid configuration; the message names the offending key and value."""


def _with_defaults(validator_class):
    """A validator that fills `default` values into the instance as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def load_schema() -> dict:
    with open(SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def validate_config(config: dict) -> dict:
    """Validate `config` in place against the schema (filling defaults), then check
    what the schema cannot express. Returns the config."""
    schema = load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        error = errors[0]
        if error.validator == "additionalProperties":
            where = _key_path(error.path)
            raise ConfigError(f"config key {where}: {error.message} (check the spelling against config/README.md)")
        if error.validator == "required":
            raise ConfigError(f"config key {_key_path(error.path)}: {error.message}")
        raise ConfigError(f"config key {_key_path(error.path)} = {error.instance!r}: {error.message}")
    _check_method_training(config, schema)
    _check_semantics(config)
    _check_losses(config)
    return config


def _check_method_training(config: dict, schema: dict) -> None:
    """A method's `training` overrides, merged over `preference_training`, must be valid
    training settings; errors name the method's key."""
    section = schema["properties"]["preference_training"]
    validator = jsonschema.Draft202012Validator({**section, "definitions": schema["definitions"]})
    for name, method in config["methods"].items():
        overrides = method.get("training", {})
        merged = merge(config["preference_training"], overrides)
        for error in validator.iter_errors(merged):
            where = f"methods.{name}.training" + (f".{_key_path(error.path)}" if error.path else "")
            if error.validator == "additionalProperties":
                raise ConfigError(f"config key {where}: {error.message} (keys of preference_training are allowed)")
            raise ConfigError(f"config key {where} = {error.instance!r}: {error.message}")


def _check_losses(config: dict) -> None:
    """Each method must make a valid `LossSpec` (combinations the schema cannot see)."""
    beta = format_beta(config["grid"]["betas"][0])
    for name in config["methods"]:
        try:
            LossSpec(**loss_settings(config, name, beta))
        except ValueError as error:
            field = str(error).split(":", 1)[0].removeprefix("LossSpec.")
            raise ConfigError(f"config key methods.{name}.{field}: {str(error).split(': ', 1)[-1]}") from None


def _check_semantics(config: dict) -> None:
    for i, name in enumerate(config["grid"]["methods"]):
        if name not in config["methods"]:
            raise ConfigError(
                f"config key grid.methods[{i}] = {name!r}: unknown method; defined under `methods`: "
                f"{sorted(config['methods'])}"
            )
    betas_lists = [("grid.betas", config["grid"]["betas"])]
    for name, override in config["grid"]["per_method"].items():
        if name not in config["grid"]["methods"]:
            raise ConfigError(
                f"config key grid.per_method.{name}: not in grid.methods {config['grid']['methods']}"
            )
        if "betas" in override:
            betas_lists.append((f"grid.per_method.{name}.betas", override["betas"]))
    for key, betas in betas_lists:
        names = {}
        for i, beta in enumerate(betas):
            label = format_beta(beta)
            if label in names:
                raise ConfigError(
                    f"config key {key}[{i}] = {beta!r}: same folder name beta{label} as {key}[{names[label]}]"
                )
            names[label] = i
    cells = set(grid(config))
    dynamics = config["dynamics"]
    for i, name in enumerate(dynamics["methods"]):
        if name not in config["grid"]["methods"]:
            raise ConfigError(f"config key dynamics.methods[{i}] = {name!r}: not in grid.methods")
    if dynamics["methods"] and not dynamics_cells(config):
        raise ConfigError(
            f"config key dynamics: methods {dynamics['methods']}, betas {dynamics['betas']} and seeds "
            f"{dynamics['seeds']} select no cell of the grid ({len(cells)} cells)"
        )
    model = config["model"]
    if model["hidden_size"] % model["num_heads"]:
        raise ConfigError(
            f"config key model.num_heads = {model['num_heads']}: must divide model.hidden_size = {model['hidden_size']}"
        )
    if config["task"] == "toy":
        toy = config["toy"]
        if not math.isclose(sum(toy["demo_distractor_probs"]), 1.0, abs_tol=1e-6):
            raise ConfigError(
                f"config key toy.demo_distractor_probs = {toy['demo_distractor_probs']}: must sum to 1"
            )
        longest = toy["prompt_length"] + 1 + max(config["preference_data"]["max_new_tokens"],
                                                 config["evaluation"]["max_new_tokens"], toy["max_response_words"] + 1)
        if longest > model["max_positions"]:
            raise ConfigError(
                f"config key model.max_positions = {model['max_positions']}: prompt plus response need {longest}"
            )
        if max(toy["n_keys"]) * min(toy["key_repeats"]) > toy["prompt_length"]:
            raise ConfigError(f"config key toy.prompt_length = {toy['prompt_length']}: too short for toy.n_keys x toy.key_repeats")


def load_config(*paths) -> dict:
    """Merge YAML files (later ones override earlier ones, key by key) and validate."""
    config: dict = {}
    for path in paths:
        with open(path) as f:
            config = merge(config, yaml.safe_load(f) or {})
    return validate_config(config)


def merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def format_beta(beta: float) -> str:
    """The beta of a folder name: `beta0.05`. Short and stable across YAML spellings."""
    return f"{float(beta):g}"


@dataclass(frozen=True)
class Cell:
    method: str
    beta: str  # as in the folder name
    seed: int

    @property
    def name(self) -> str:
        return f"{self.method}/beta{self.beta}/seed{self.seed}"


def grid(config: dict) -> list[Cell]:
    """Every cell: each method over its betas and seeds (`grid.per_method` overrides)."""
    g = config["grid"]
    cells = []
    for method in g["methods"]:
        override = g.get("per_method", {}).get(method, {})
        betas, seeds = override.get("betas", g["betas"]), override.get("seeds", g["seeds"])
        cells += [Cell(method, format_beta(b), int(s)) for b, s in itertools.product(betas, seeds)]
    return cells


def dynamics_cells(config: dict) -> list[Cell]:
    """Grid cells whose per-epoch snapshots are evaluated (the `dynamics` selection)."""
    d = config["dynamics"]
    betas, seeds = {format_beta(b) for b in d["betas"]}, {int(s) for s in d["seeds"]}
    return [c for c in grid(config) if c.method in d["methods"] and c.beta in betas and c.seed in seeds]


def task_dir(config: dict) -> str:
    return f"{config['results_dir']}/{config['task']}"


def cell_dir(config: dict, cell: Cell) -> str:
    return f"{task_dir(config)}/{cell.name}"


def method_training(config: dict, method: str) -> dict:
    return merge(config["preference_training"], config["methods"][method].get("training", {}))


# Modifiers a method entry may set: every LossSpec field but the DAA and the grid's beta.
LOSS_MODIFIERS = [f.name for f in fields(LossSpec) if f.name not in ("daa", "beta")]


def loss_settings(config: dict, method: str, beta: str) -> dict:
    """The `isdaa.losses.LossSpec` fields of a method at one beta."""
    spec = config["methods"][method]
    return {"daa": spec["daa"], "beta": float(beta), **{k: spec[k] for k in LOSS_MODIFIERS if k in spec}}


def method_labels(config: dict, methods=None) -> dict:
    """Legend label of each method (its `label`, else its name); all methods by default."""
    return {m: config["methods"][m].get("label", m) for m in (methods or config["methods"])}


def snapshot_epochs(epochs: float, per_epoch: int) -> list[float]:
    """Training progress (in epochs) of the snapshots: every 1/per_epoch of an epoch,
    the end of training excluded (that is the final model)."""
    total = math.ceil(epochs * per_epoch - 1e-9)
    return [i / per_epoch for i in range(1, total) if i / per_epoch < epochs - 1e-9]


def snapshot_name(epoch: float) -> str:
    return f"epoch{epoch:g}"


def eps_ablation(config: dict) -> dict:
    """The grid's methods that are DPO with at most an importance-sampling clip:
    {name: is_eps (None for plain DPO)}, the series of `is_eps_ablation.pdf`."""
    out = {}
    for name in config["grid"]["methods"]:
        spec = config["methods"][name]
        others = [k for k in LOSS_MODIFIERS if k != "is_eps" and spec.get(k) not in (None, False, 0, 0.0)]
        if spec["daa"] == "dpo" and not others and not spec.get("training"):
            out[name] = spec.get("is_eps")
    return out


def cell_config(config: dict, method: str, beta: str, seed: int) -> dict:
    """Everything that defines one cell, self-contained: `python -m isdaa train --config`
    reruns the cell from this alone."""
    base = task_dir(config)
    out = cell_dir(config, Cell(method, beta, int(seed)))
    return {
        "name": Cell(method, beta, int(seed)).name,
        "task": config["task"],
        "method": method,
        "beta": float(beta),
        "seed": int(seed),
        "threads": config["threads"],
        "loss": loss_settings(config, method, beta),
        "training": method_training(config, method),
        "evaluation": copy.deepcopy(config["evaluation"]),
        "paths": {
            "sft_model": f"{base}/sft/model",
            "preferences": f"{base}/data/preferences.parquet",
            "reference_logps": f"{base}/reference_logps.parquet",
            "eval_prompts": f"{base}/data/eval_prompts.parquet",
            "model": f"{out}/model",
            "train_log": f"{out}/train_log.csv",
            "checkpoints": f"{out}/checkpoints",
            "snapshots": f"{out}/snapshots",
        },
    }
