"""Configuration: schema validation with defaults, tasks, the grid, and resolved cell configs.

The Snakefile and the CLI both go through `load_config` / `validate_config`, so a bad
config fails the same way everywhere, before any job starts, naming the key.

A config holds shared `methods` and one or more `tasks`; each task is a whole study
(data, model, gold reward, recipes, grid, evaluation). `task_config` resolves one
task into a self-contained dict (its methods merged over the shared ones), which is
what every rule and script reads.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import fields
from pathlib import Path

import jsonschema
import yaml

from isdaa.layout import (  # noqa: F401
    DEFAULT_REGIME, Cell, Layout, format_beta, parse_study, snapshot_name, study_name)
from isdaa.losses import IS_OPTIONS, LossSpec

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid configuration; the message names the offending key and value."""


# ---------------------------------------------------------------------------- schema


def _inline_refs(node, definitions):
    """The schema with every `$ref` replaced by its definition (sibling keys such as a
    description win), so that defaults behind a reference are visible where they apply."""
    if isinstance(node, list):
        return [_inline_refs(v, definitions) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[1]]
        merged = {**_inline_refs(target, definitions), **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline_refs(merged, definitions)
    return {k: _inline_refs(v, definitions) for k, v in node.items()}


def load_schema() -> dict:
    """The config schema, references inlined."""
    with open(SCHEMA_PATH) as f:
        raw = yaml.safe_load(f)
    definitions = raw.pop("definitions", {})
    return _inline_refs(raw, definitions)


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


def _coerce_numbers(instance, schema):
    """Integers where the schema says `number` become floats, so that `2` and `2.0` (or a
    default written out) are the same setting: cached jobs compare settings by value."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "number" in kinds and "integer" not in kinds and isinstance(instance, int) and not isinstance(instance, bool):
        return float(instance)
    if isinstance(instance, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key, value in instance.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                instance[key] = _coerce_numbers(value, sub)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [_coerce_numbers(v, schema["items"]) for v in instance]
    return instance


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _schema_error(error, prefix: str = "", hint: str = "check the spelling against config/README.md") -> ConfigError:
    where = prefix + _key_path(error.path) if error.path or not prefix else prefix.rstrip(".")
    if error.validator == "additionalProperties":
        return ConfigError(f"config key {where}: {error.message} ({hint})")
    if error.validator in ("required", "minProperties", "maxProperties"):
        return ConfigError(f"config key {where}: {error.message}")
    message = error.message
    if error.validator == "type" and isinstance(error.instance, str) and _looks_numeric(error.instance):
        # YAML 1.1 reads `1e-2` (no dot) as a string.
        message += " (YAML reads a number without a dot before its exponent as text: write 1.0e-2 or 0.01)"
    return ConfigError(f"config key {where} = {error.instance!r}: {message}")


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------- validation


def validate_config(config: dict, check_availability: bool = True, deep: bool = True) -> dict:
    """Validate `config` in place against the schema (filling defaults), then check
    what the schema cannot express. Returns the config.

    `check_availability`: also require every checkpoint, dataset and optional package a
    run needs to be here (local, in the Hugging Face cache, or the hub reachable); the
    Snakefile checks that only before a real run (`require_available`), so that
    `snakemake -n` plans a study on a machine that has none of them. `deep`: checks that
    read tokenizers (the prompt template's length against the token limits); off in the
    jobs' own parses, which the main process has checked already."""
    schema = load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    if "task" in config and "tasks" not in config:
        raise ConfigError("config key task: this config has the single-task layout of isdaa 0.1; put its "
                          "sections (toy -> data.toy, model -> model.build, sft, grid, ...) under tasks.<name> and "
                          "keep `methods` at the top (see config/config.yaml and config/README.md)")
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        raise _schema_error(errors[0])
    _coerce_numbers(config, schema)
    tasks = list(config["tasks"])
    headline = config.get("headline_task")
    if headline is None:
        if len(tasks) > 1:
            raise ConfigError(f"config key headline_task: required with several tasks {tasks}: which one's "
                              "figures go to results/figures/?")
        config["headline_task"] = tasks[0]
    elif headline not in config["tasks"]:
        raise ConfigError(f"config key headline_task = {headline!r}: not a task; tasks: {tasks}")
    section = schema["properties"]["tasks"]["additionalProperties"]["properties"]["preference_training"]
    for name in tasks:
        task = task_config(config, name)
        key = f"tasks.{name}"
        _check_method_training(task, section, key, config)
        _check_grid(task, key)
        _check_losses(task, key, config)
        _check_model(task, key)
        _check_gold(task, key)
        _check_sampling(task, key)
        _check_data(task, key, deep)
        _check_regimes(task, key, schema, config)
        _check_resources(task.get("resources"), f"{key}.resources")
        _check_sft(task, key)
        _check_benchmarks(task, key, config)
        if "toy" in task["data"]:
            from isdaa.tasks.toy import check_task

            try:
                check_task(task)
            except ValueError as error:
                raise ConfigError(f"config key {key}.{error}") from None
    _check_resources(config["resources"], "resources")
    if check_availability:
        from isdaa.availability import require_available

        require_available(config)
    return config


# ---------------------------------------------------------------------------- data sources

DATA_ROLES = ("sft", "preferences", "eval")


def is_hub_task(task: dict) -> bool:
    """A task whose data are datasets (hub ids or local files), not the toy generator."""
    return "toy" not in task["data"]


def data_limits(task: dict, role: str) -> dict:
    """The token limits of a data role: SFT's for demonstrations, the pairs' otherwise."""
    section = task["sft"] if role == "sft" else task["preference_data"]
    return {"max_prompt_length": section["max_prompt_length"],
            "max_length": section["max_length"] if role != "eval" else None}


def policy_tokenizer(task: dict) -> str | None:
    """The checkpoint whose tokenizer the task's policies use (the one SFT saves)."""
    model = task["model"]
    if model.get("tokenizer"):
        return model["tokenizer"]
    if "path" in model:
        return model["path"]
    build = model["build"]["tokenizer"]
    return None if build == "toy" else build


def _check_data(task: dict, key: str, deep: bool) -> None:
    data, mode = task["data"], task["preference_data"]["mode"]
    if not is_hub_task(task):
        extra = sorted(set(data) - {"toy"})
        if extra:
            raise ConfigError(f"config key {key}.data: the toy generator is a task's only data source; also got "
                              f"{extra}")
        if mode != "relabel":
            raise ConfigError(f"config key {key}.preference_data.mode = {mode!r}: toy data have no preference set "
                              "of their own; their pairs are relabelled SFT samples (mode relabel)")
        return
    missing = [role for role in DATA_ROLES if role not in data]
    if missing:
        raise ConfigError(f"config key {key}.data: datasets need all of {list(DATA_ROLES)} (demonstrations, "
                          f"preference pairs or prompts, held-out prompts); missing {missing}")
    from isdaa.tasks.sources import check_source

    for role in DATA_ROLES:
        try:
            check_source(data[role], role, f"{key}.data.{role}")
        except ValueError as error:
            raise ConfigError(_config_message(error, f"{key}.data.{role}")) from None
    if deep:
        _check_limits(task, key)
    if mode != "relabel" and task["preference_data"]["behavior"] == "recorded":
        columns = data["preferences"].get("columns") or {}
        importance = [m for m in task["grid"]["methods"] if task["methods"][m].get("is_eps")]
        if importance and not {"behavior_chosen_logp", "behavior_rejected_logp"} <= set(columns):
            raise ConfigError(
                f"config key {key}.preference_data.behavior = 'recorded': the pairs of mode {mode!r} carry no "
                f"behaviour log-probs (data.preferences maps none), which {importance} need; set "
                "preference_data.behavior: reference (the reference policy as the behaviour policy, the authors' "
                "choice) or map behavior_chosen_logp / behavior_rejected_logp under data.preferences.columns")


def _config_message(error: Exception, key: str) -> str:
    text = str(error)
    return text if text.startswith("config key") else f"config key {key}: {text}"


def _check_limits(task: dict, key: str) -> None:
    """Token limits must leave room above the prompt template's own tokens: read the
    policy's tokenizer when it is here (local or cached; else the job checks)."""
    from isdaa import modeling

    path = policy_tokenizer(task)
    if path is None or modeling.deferred(path):
        return
    try:
        tokenizer = modeling.load_tokenizer(path)
    except (OSError, ValueError):
        return  # not loadable offline: the job that needs it says why
    from isdaa.tasks.cleaning import check_limits

    for role, section in (("sft", "sft"), ("preferences", "preference_data")):
        try:
            check_limits(tokenizer, model_settings(task), data_limits(task, role), f"{key}.{section}")
        except ValueError as error:
            raise ConfigError(_config_message(error, f"{key}.{section}")) from None


def _check_benchmarks(task: dict, key: str, config: dict) -> None:
    from isdaa.judges.settings import check_benchmarks, enabled_benchmarks

    if not enabled_benchmarks(task):
        return
    if task["model"]["prompt_format"] != "chat":
        raise ConfigError(f"config key {key}.benchmarks: the benchmarks ask their questions through the policy's chat "
                          f"template; {key}.model.prompt_format is {task['model']['prompt_format']!r} (set chat)")
    try:
        check_benchmarks(config, task, key)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _check_sft(task: dict, key: str) -> None:
    sft = task["sft"]
    if sft["enabled"] and (sft["max_steps"] is None) == (sft["epochs"] is None):
        raise ConfigError(f"config key {key}.sft: give exactly one of max_steps and epochs (the other null); got "
                          f"max_steps = {sft['max_steps']!r}, epochs = {sft['epochs']!r}")


def _check_resources(section: dict, key: str) -> None:
    """`per_rule` names rules that declare resources."""
    unknown = sorted(set((section or {}).get("per_rule", {})) - set(RESOURCE_RULES))
    if unknown:
        raise ConfigError(f"config key {key}.per_rule.{unknown[0]}: not a rule with resources; rules: "
                          f"{sorted(RESOURCE_RULES)}")


# Rules that declare resources (every rule that runs as a job of its own on a cluster).
RESOURCE_RULES = ("prepare_data", "build_model", "prepare_sft", "prepare_pairs", "prepare_eval", "sft",
                  "label_preferences", "relabel_pairs", "import_pairs", "score_references", "reference_logps",
                  "train_preference", "sample", "score", "evaluate", "aggregate", "regime_map_table",
                  "benchmark_answers")
GPU_RULES = ("sft", "label_preferences", "relabel_pairs", "score_references", "reference_logps",
             "train_preference", "sample", "score", "evaluate", "benchmark_answers")


def rule_resources(config: dict, task: str, rule: str) -> dict:
    """What one job of `rule` asks for: the top-level resources, then the task's, each
    with its per_rule override; `gpu` only for the rules that can use one."""
    out = {}
    for section in (config["resources"], config["tasks"][task].get("resources") or {}):
        out.update({k: v for k, v in section.items() if k != "per_rule"})
        out.update(section.get("per_rule", {}).get(rule, {}))
    if rule not in GPU_RULES:
        out.pop("gpu", None)
    return out


def _method_key(task: dict, name: str, key: str, config: dict) -> str:
    """Where a method is defined: under the task, or in the shared `methods`."""
    return f"{key}.methods.{name}" if name in config["tasks"][task["name"]].get("methods", {}) else f"methods.{name}"


def _check_method_training(task: dict, section: dict, key: str, config: dict) -> None:
    """A method's `training` overrides, merged over `preference_training`, must be valid
    training settings; errors name the method's key."""
    validator = jsonschema.Draft202012Validator(section)
    for name, method in task["methods"].items():
        merged = merge(task["preference_training"], method.get("training", {}))
        for error in validator.iter_errors(merged):
            raise _schema_error(error, f"{_method_key(task, name, key, config)}.training.",
                                "keys of preference_training are allowed")
        _coerce_numbers(method.get("training", {}), section)


def _check_losses(task: dict, key: str, config: dict) -> None:
    """Each method must make a valid `LossSpec` (combinations the schema cannot see)."""
    beta = format_beta(task["grid"]["betas"][0])
    for name in task["methods"]:
        try:
            LossSpec(**loss_settings(task, name, beta))
        except ValueError as error:
            field = str(error).split(":", 1)[0].removeprefix("LossSpec.")
            raise ConfigError(f"config key {_method_key(task, name, key, config)}.{field}: "
                              f"{str(error).split(': ', 1)[-1]}") from None


def _check_grid(task: dict, key: str) -> None:
    g = task["grid"]
    for i, name in enumerate(g["methods"]):
        if name not in task["methods"]:
            raise ConfigError(f"config key {key}.grid.methods[{i}] = {name!r}: unknown method; defined under "
                              f"`methods`: {sorted(task['methods'])}")
    betas_lists = [(f"{key}.grid.betas", g["betas"])]
    for name, override in g["per_method"].items():
        if name not in g["methods"]:
            raise ConfigError(f"config key {key}.grid.per_method.{name}: not in grid.methods {g['methods']}")
        if "betas" in override:
            betas_lists.append((f"{key}.grid.per_method.{name}.betas", override["betas"]))
    for where, betas in betas_lists:
        names = {}
        for i, beta in enumerate(betas):
            label = format_beta(beta)
            if label in names:
                raise ConfigError(f"config key {where}[{i}] = {beta!r}: same folder name beta{label} as "
                                  f"{where}[{names[label]}]")
            names[label] = i
    dynamics = task["dynamics"]
    for i, name in enumerate(dynamics["methods"]):
        if name not in g["methods"]:
            raise ConfigError(f"config key {key}.dynamics.methods[{i}] = {name!r}: not in grid.methods")
    if dynamics["methods"] and not dynamics_cells(task):
        raise ConfigError(f"config key {key}.dynamics: methods {dynamics['methods']}, betas {dynamics['betas']} "
                          f"and seeds {dynamics['seeds']} select no cell of the grid ({len(grid(task))} cells)")


def _check_regimes(task: dict, key: str, schema: dict, config: dict) -> None:
    """Each regime's sections, merged over the task's, must be valid sections (errors name
    the regime's key); its grid, methods' training and losses are checked like a task's."""
    definitions = schema["properties"]["tasks"]["additionalProperties"]["properties"]
    for name, overrides in task["regimes"].items():
        where = f"{key}.regimes.{name}"
        if name == DEFAULT_REGIME and set(overrides) & set(DATA_SECTIONS):
            raise ConfigError(f"config key {where}: the `default` regime lives at the task's own folders and "
                              f"reads the task's own data; give its {sorted(set(overrides) & set(DATA_SECTIONS))} "
                              "overrides to a regime of another name")
        for section in REGIME_SECTIONS:
            if section not in overrides:
                continue
            merged = merge(task[section], overrides[section])
            for error in jsonschema.Draft202012Validator(definitions[section]).iter_errors(merged):
                raise _schema_error(error, f"{where}.{section}.")
            overrides[section] = _coerce_numbers(overrides[section], definitions[section])
            config["tasks"][task["name"]]["regimes"][name][section] = copy.deepcopy(overrides[section])
        limits = sorted(set(overrides.get("preference_data", {})) & {"max_prompt_length", "max_length"})
        if limits:
            raise ConfigError(f"config key {where}.preference_data.{limits[0]}: the token limits apply when the "
                              "task's datasets are read, once for every regime; set them on the task")
    for study in studies(task).values() if task["regimes"] else []:  # none: the task itself, checked above
        where = f"{key}.regimes.{study['regime']}"
        _check_method_training(study, definitions["preference_training"], where, config)
        _check_grid(study, where)
        _check_losses(study, where, config)
        _check_gold(study, where)
    pairs = task["regime_map"]["pairs"] or {}
    methods = grid_methods(task)
    for variant, baseline in pairs.items():
        for name in (variant, baseline):
            if name not in methods:
                raise ConfigError(f"config key {key}.regime_map.pairs.{variant}: {name!r} is in no regime's "
                                  f"grid.methods {methods}")


def _check_model(task: dict, key: str) -> None:
    from isdaa import modeling

    model = task["model"]
    if ("path" in model) == ("build" in model):
        raise ConfigError(f"config key {key}.model: give exactly one of `path` (a checkpoint) and `build` "
                          f"(a tiny model a rule builds); got {sorted(k for k in ('path', 'build') if k in model)}")
    if "build" in model:
        build = model["build"]
        if build["hidden_size"] % build["num_heads"]:
            raise ConfigError(f"config key {key}.model.build.num_heads = {build['num_heads']}: must divide "
                              f"model.build.hidden_size = {build['hidden_size']}")
        if build["tokenizer"] == "toy" and "toy" not in task["data"]:
            raise ConfigError(f"config key {key}.model.build.tokenizer = 'toy': the toy tokenizer needs toy data "
                              "(data.toy)")
        if build["tokenizer"] != "toy":
            _check(modeling.check_tokenizer, build["tokenizer"], f"{key}.model.build.tokenizer", task)
    elif not modeling.deferred(model["path"]):
        _check(modeling.check_checkpoint, model["path"], f"{key}.model.path")
    # The tokenizer SFT saves with the policy, which every later stage reads.
    if model["tokenizer"] is not None:
        if not modeling.deferred(model["tokenizer"]):
            _check(modeling.check_tokenizer, model["tokenizer"], f"{key}.model.tokenizer", task)
    elif "path" in model and not modeling.deferred(model["path"]):
        _check(modeling.check_tokenizer, model["path"], f"{key}.model.path", task)


def _check(function, value, key, *args) -> None:
    try:
        function(value, *args)
    except ValueError as error:
        raise ConfigError(f"config key {key} = {value!r}: {error}") from None


def _check_gold(task: dict, key: str) -> None:
    gold = task["gold"]
    if gold["type"] == "toy":
        if "toy" not in task["data"]:
            raise ConfigError(f"config key {key}.gold.type = 'toy': the toy reward scores toy data only (data.toy)")
        if "path" in gold:
            raise ConfigError(f"config key {key}.gold.path: only for type reward_model")
    else:
        if "path" not in gold:
            raise ConfigError(f"config key {key}.gold: type reward_model needs `path` (a hub id or a folder)")
        from isdaa.modeling import deferred
        from isdaa.reward_model import check_reward_model, settings

        if deferred(gold["path"]):  # checked before a real run (require_available)
            try:
                settings(gold, f"{key}.gold")
            except ValueError as error:
                raise ConfigError(_config_message(error, f"{key}.gold")) from None
            return

        try:
            check_reward_model(gold, f"{key}.gold")
        except ValueError as error:
            raise ConfigError(str(error) if str(error).startswith("config key") else f"config key {key}.gold: "
                              f"{error}") from None


def _check_sampling(task: dict, key: str) -> None:
    sampling = task["sampling"]
    if sampling["backend"] == "vllm":
        if task["model"].get("build", {}).get("tokenizer") == "toy":
            raise ConfigError(f"config key {key}.sampling.backend = 'vllm': the toy model masks tokens (pad, "
                              "separator, unknown), which vLLM's raw log-probs cannot; use backend hf")
        if sampling["seed_scope"] == "batch":
            raise ConfigError(f"config key {key}.sampling.seed_scope = 'batch': the vllm backend seeds every "
                              "request (use `request`)")


def load_config(*paths, check_availability: bool = True) -> dict:
    """Read YAML files (later ones override earlier ones, key by key) and validate."""
    config: dict = {}
    for path in paths:
        with open(path) as f:
            config = merge(config, yaml.safe_load(f) or {})
    return validate_config(config, check_availability=check_availability)


def merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def canonical(value):
    """`value` with every dict's keys sorted, recursively: Snakemake compares params by
    their repr, so the same settings written in another order must look the same."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


# ---------------------------------------------------------------------------- tasks and the grid


def task_config(config: dict, name: str) -> dict:
    """One task, self-contained: its sections, its methods merged over the shared ones,
    its name and the results folder."""
    task = copy.deepcopy(config["tasks"][name])
    task["name"] = name
    task["methods"] = {**copy.deepcopy(config["methods"]), **task.get("methods", {})}
    task["results_dir"] = config.get("results_dir", "results")
    # The task's own folder is a study too: the default regime's, and the data of every
    # regime that keeps the task's data sections.
    task.update(regime=DEFAULT_REGIME, regime_label=DEFAULT_REGIME, study=name, data_study=name)
    return task


def tasks(config: dict) -> dict[str, dict]:
    return {name: task_config(config, name) for name in config["tasks"]}


# ---------------------------------------------------------------------------- regimes

# What a regime may override. The data sections change the preference pairs (and the gold
# reward that labels and scores them); the others change only how cells train.
DATA_SECTIONS = ("preference_data", "gold")
REGIME_SECTIONS = (*DATA_SECTIONS, "preference_training", "grid", "dynamics")


def regimes(task: dict) -> dict[str, dict]:
    """A task's regimes (name -> overrides), in config order; one `default` regime
    without overrides when the task names none."""
    return task.get("regimes") or {DEFAULT_REGIME: {}}


def studies(task: dict) -> dict[str, dict]:
    """Every regime of a task as a self-contained study config: the task with the regime's
    sections merged in, plus `regime`, `regime_label`, `study` (its folder, see
    `study_name`) and `data_study` (the folder whose preference data it trains on: the
    task's own when its data sections equal the task's, else the first regime's with
    the same data sections, so that regimes differing only in training share pairs)."""
    def data_key(config):
        # Execution settings (a batch size) make no other pairs.
        return repr(canonical({k: result_settings(config, k) for k in DATA_SECTIONS}))

    owners = {data_key(task): task["name"]}
    out = {}
    for name, overrides in regimes(task).items():
        study = copy.deepcopy(task)
        for section in REGIME_SECTIONS:
            if section in overrides:
                study[section] = merge(task[section], overrides[section])
        study_folder = study_name(task["name"], name)
        study.update(regime=name, regime_label=overrides.get("label", name), study=study_folder,
                     data_study=owners.setdefault(data_key(study), study_folder))
        out[study_folder] = study
    return out


def task_cells(task: dict) -> list[Cell]:
    """Every cell of every regime of a task."""
    return [cell for study in studies(task).values() for cell in grid(study)]


def grid(task: dict) -> list[Cell]:
    """Every cell of a study (one regime of a task, see `studies`): each method over its
    betas and seeds (`grid.per_method` overrides)."""
    g = task["grid"]
    cells = []
    for method in g["methods"]:
        override = g.get("per_method", {}).get(method, {})
        betas, seeds = override.get("betas", g["betas"]), override.get("seeds", g["seeds"])
        cells += [Cell(task["study"], method, format_beta(b), int(s), task["regime"])
                  for b, s in itertools.product(betas, seeds)]
    return cells


def dynamics_cells(task: dict) -> list[Cell]:
    """Grid cells whose snapshots are evaluated (the `dynamics` selection)."""
    d = task["dynamics"]
    betas, seeds = {format_beta(b) for b in d["betas"]}, {int(s) for s in d["seeds"]}
    return [c for c in grid(task) if c.method in d["methods"] and c.beta in betas and c.seed in seeds]


def method_training(task: dict, method: str) -> dict:
    return merge(task["preference_training"], task["methods"][method].get("training", {}))


# Settings of speed, memory and bookkeeping: they change no result beyond float rounding,
# so they stay out of the rules' params (a change reruns nothing) and reach the jobs
# through the workflow config instead (`execution_settings`). Batch sizes of sampling are
# execution settings only where every request has its own seed (`seed_scope: request`):
# with one random stream per batch (the toy's) the batch size changes the samples.
EXECUTION_KEYS = {
    "sft": ("per_device_batch_size", "logging_steps", "report_to", "distributed", "activation_checkpointing"),
    "preference_training": ("per_device_batch_size", "logging_steps", "save_steps", "report_to", "distributed",
                            "activation_checkpointing"),
    "sampling": ("vllm_kv_cache_gb", "vllm_max_model_len"),
    "gold": ("batch_size",),
    "preference_data": ("batch_size",),
    "evaluation": ("batch_size",),
}
SEEDED_BATCHES = ("preference_data", "evaluation")  # batch sizes that draw samples


def execution_keys(task: dict, section: str) -> tuple[str, ...]:
    keys = EXECUTION_KEYS.get(section, ())
    if section in SEEDED_BATCHES and task["sampling"]["seed_scope"] == "batch":
        keys = tuple(k for k in keys if k != "batch_size")
    return keys


def result_settings(task: dict, section: str, values: dict | None = None) -> dict:
    """A section's settings without its execution settings: what a rule's params hold."""
    values = task[section] if values is None else values
    skip = execution_keys(task, section)
    return {k: v for k, v in values.items() if k not in skip}


def execution_settings(task: dict, section: str, values: dict | None = None) -> dict:
    """A section's execution settings (read by the jobs from the config, not from params)."""
    values = task[section] if values is None else values
    return {k: values[k] for k in execution_keys(task, section) if k in values}


def study_config(config: dict, study: str) -> dict:
    """The config of a study folder (a task, or one of its regimes) of a validated config:
    what a job reads its execution settings from."""
    name, _ = parse_study(study)
    task = task_config(config, name)
    return studies(task).get(study, task)


# Modifiers a method entry may set: every LossSpec field but the DAA and the grid's beta.
LOSS_MODIFIERS = [f.name for f in fields(LossSpec) if f.name not in ("daa", "beta")]


# Loss options added after results existed: a cell's settings hold them only when they
# differ from the default, so that cells trained before they existed stay cached.
OPTIONAL_LOSS_DEFAULTS = {field: allowed[0] for field, allowed in IS_OPTIONS.items()}


def loss_settings(task: dict, method: str, beta: str) -> dict:
    """The `isdaa.losses.LossSpec` fields of a method at one beta."""
    spec = task["methods"][method]
    return {"daa": spec["daa"], "beta": float(beta),
            **{k: spec[k] for k in LOSS_MODIFIERS if k in spec and spec[k] != OPTIONAL_LOSS_DEFAULTS.get(k, ...)}}


def method_labels(task: dict, methods=None) -> dict:
    """Legend label of each method (its `label`, else its name); all methods by default."""
    return {m: task["methods"][m].get("label", m) for m in (methods or task["methods"])}


def snapshot_epochs(epochs: float, per_epoch: int) -> list[float]:
    """Training progress (in epochs) of the snapshots: every 1/per_epoch of an epoch,
    the end of training excluded (that is the final model)."""
    total = math.ceil(epochs * per_epoch - 1e-9)
    return [i / per_epoch for i in range(1, total) if i / per_epoch < epochs - 1e-9]


def method_family(spec: dict) -> str:
    """A method's family: its DAA when it is that DAA alone or with importance sampling
    (`is_eps` and the `is_*` options) only, else "baselines" (another modifier or
    training overrides)."""
    others = [k for k in LOSS_MODIFIERS if not k.startswith("is_") and spec.get(k) not in (None, False, 0, 0.0)]
    return spec["daa"] if not others and not spec.get("training") else "baselines"


def eps_ablation(task: dict) -> dict:
    """The grid's methods that are DPO with at most an importance-sampling clip:
    {name: is_eps (None for plain DPO)}, the series of `is_eps_ablation.pdf`."""
    return {name: task["methods"][name].get("is_eps") for name in task["grid"]["methods"]
            if method_family(task["methods"][name]) == "dpo"}


def model_settings(task: dict) -> dict:
    """How the task's policies are loaded and run (everything but where the weights are)."""
    model = task["model"]
    return {k: model[k] for k in ("prompt_format", "system_prompt", "dtype", "attn_implementation")}


def cell_config(task: dict, method: str, beta: str, seed: int) -> dict:
    """Everything that defines one cell's training, self-contained: `python -m isdaa
    train --config` reruns the cell from this alone. Evaluation settings are not part of
    it (editing them must not retrain the cell)."""
    layout = Layout(task["results_dir"])
    cell = Cell(task["study"], method, format_beta(beta), int(seed), task["regime"])
    # The default regime's cells keep the settings they had before regimes existed (no
    # `regime` key), so that their cached results stay valid.
    regime = {} if task["regime"] == DEFAULT_REGIME else {"regime": task["regime"]}
    # Which behaviour policy importance sampling divides by: only IS methods depend on it.
    extra = {"behavior": task["preference_data"]["behavior"]} if task["methods"][method].get("is_eps") else {}
    # Snapshots of a cell whose training dynamics nobody evaluates are not saved when the
    # task says so (a cell that joins `dynamics` then trains again, to save them).
    if task["preference_training"]["snapshot_cells"] == "dynamics" and cell not in dynamics_cells(task):
        extra["snapshots"] = False
    return {
        "name": cell.name,
        **regime,
        **extra,
        "task": task["name"],
        "method": method,
        "beta": float(beta),
        "seed": int(seed),
        "loss": loss_settings(task, method, beta),
        # `snapshot_cells` is in the cell's `snapshots` flag: what it changes for this cell.
        "training": {k: v for k, v in result_settings(task, "preference_training", method_training(task, method)).items()
                     if k != "snapshot_cells"},
        "model": model_settings(task),
        "paths": {
            "sft_model": layout.sft_model(task["name"]),
            "preferences": layout.data("preferences.parquet", task["data_study"]),
            "reference_logps": layout.reference_logps(task["data_study"]),
            "model": layout.cell_of(cell, "model"),
            "train_log": layout.cell_of(cell, "train_log.csv"),
            "checkpoints": layout.checkpoints(cell),
            "snapshots": layout.cell_of(cell, "snapshots"),
        },
    }


def cell_execution(task: dict, method: str, name: str) -> dict:
    """How one cell of a study runs (its config.yaml's `execution` section, read from the
    config at run time, never from the rule's params): the execution settings of its
    training, and where its TensorBoard logs go (outside its outputs, never deleted)."""
    return {**execution_settings(task, "preference_training", method_training(task, method)),
            "logging_dir": Layout(task["results_dir"]).tensorboard(name, task["study"])}


def evaluation_settings(task: dict, results_only: bool = False) -> dict:
    """What sampling a policy for evaluation runs with; `results_only`: without the
    execution settings (a rule's params: what its results depend on)."""
    evaluation = {k: v for k, v in task["evaluation"].items() if k != "one_job"}
    sampling = task["sampling"]
    if results_only:
        evaluation, sampling = result_settings(task, "evaluation", evaluation), result_settings(task, "sampling")
    return {"evaluation": evaluation, "sampling": sampling, "model": model_settings(task)}


def scoring_settings(task: dict, results_only: bool = False) -> dict:
    """What scoring samples runs with: the gold reward and how the reference runs (its
    batch size only changes float rounding, so `results_only` leaves it out)."""
    if results_only:
        return {"gold": result_settings(task, "gold"), "model": model_settings(task)}
    return {"gold": task["gold"], "model": model_settings(task), "batch_size": task["evaluation"]["batch_size"]}


def grid_methods(task: dict) -> list[str]:
    """The methods of every regime's grid, in config order."""
    return list(dict.fromkeys(m for study in studies(task).values() for m in study["grid"]["methods"]))


def with_all_methods(task: dict) -> dict:
    """The task with `grid.methods` holding every regime's methods (for legends and labels)."""
    return {**task, "grid": {**task["grid"], "methods": grid_methods(task)}}


def regime_map_settings(task: dict) -> dict:
    """What `regime_map.pdf` needs of the config: the regimes (name, label) in config
    order and the (variant, baseline) pairs it compares."""
    from isdaa.regime_map import default_pairs

    pairs = task["regime_map"]["pairs"]
    if pairs is None:
        pairs = dict(default_pairs(task["methods"], grid_methods(task)))
    return {"regimes": [{"name": s["regime"], "label": s["regime_label"]} for s in studies(task).values()],
            "regime_pairs": [{"method": v, "baseline": b} for v, b in pairs.items()]}


def task_figures(task: dict, names) -> list[str]:
    """The figures a task can show meaningfully, among `names`: a task with regimes shows
    the regime map (its per-regime panels replace the single-study figures), a task
    without shows the rest; the clip ablation needs two clip values or more, the
    training dynamics at least one `dynamics` cell."""
    if task.get("regimes"):
        return [n for n in names if n == "regime_map"]
    eps = {e for e in eps_ablation(task).values() if e is not None}
    skip = {"regime_map"}
    if len(eps) < 2:
        skip.add("is_eps_ablation")
    if not dynamics_cells(task):
        skip.add("training_dynamics")
    return [n for n in names if n not in skip]


def figure_facts(task: dict) -> dict:
    """What the figures of a task are drawn from, for their captions."""
    cells = task_cells(task)
    evaluation = task["evaluation"]
    prompts = evaluation["max_prompts"] or task["data"].get("toy", {}).get("n_eval_prompts")
    return {
        "cells": len(cells),
        "regimes": len(studies(task)),
        "methods": len({c.method for c in cells}),
        "seeds": sorted({c.seed for c in cells}),
        "eval_prompts": prompts,
        "samples_per_prompt": evaluation["samples_per_prompt"],
        "temperature": evaluation["temperature"],
        "top_p": evaluation["top_p"],
        "max_new_tokens": evaluation["max_new_tokens"],
    }
