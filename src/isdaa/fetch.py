"""Everything a config reads from the Hugging Face hub, listed and downloaded in one go:
on a networked machine before a run, or to fill a cache that an air-gapped cluster then
copies (`HF_HOME`). Nothing here runs inside the workflow: its jobs only read the cache.

    python -m isdaa fetch --configfile config/paper.yaml --list   # what would be downloaded
    python -m isdaa fetch --configfile config/paper.yaml          # download, print the commits to pin
"""

from __future__ import annotations

from isdaa.config import DATA_ROLES, is_hub_task, studies, task_config
from isdaa.judges import files
from isdaa.judges.settings import benchmark_settings, enabled_benchmarks
from isdaa.modeling import download_command, is_local
from isdaa.tasks.sources import hub_ids


def hub_items(config: dict) -> list[dict]:
    """Every hub checkpoint and dataset of a validated config, once each: {key, repo_type
    (model or dataset), repo_id, revision}. Local paths are not listed."""
    items: dict[tuple, dict] = {}

    def add(key, repo_type, repo_id, revision=None):
        items.setdefault((repo_type, repo_id, revision),
                         {"key": key, "repo_type": repo_type, "repo_id": repo_id, "revision": revision})

    for name in config["tasks"]:
        for study in studies(task_config(config, name)).values():
            key, model = f"tasks.{name}", study["model"]
            build = model.get("build", {}).get("tokenizer")
            checkpoints = {f"{key}.model.path": model.get("path"), f"{key}.model.tokenizer": model.get("tokenizer"),
                           f"{key}.model.build.tokenizer": None if build == "toy" else build,
                           f"{key}.gold.path": study["gold"].get("path")}
            for where, path in checkpoints.items():
                if path and not is_local(path):
                    add(where, "model", path)
            if is_hub_task(study):
                for role in DATA_ROLES:
                    for repo_type, repo_id, revision in hub_ids(study["data"][role]):
                        add(f"{key}.data.{role}.path", repo_type, repo_id, revision)
        # A benchmark's hub files, one by one (its dataset repository holds far more).
        for bench in benchmark_files(config, name):
            if files.kind(bench["source"]) == "hub":
                repo_id, filename, revision = files.parse_hub(bench["source"])
                items.setdefault(("dataset", repo_id, revision, filename),
                                 {"key": bench["key"], "repo_type": "dataset", "repo_id": repo_id, "revision": revision,
                                  "filename": filename})
    return list(items.values())


def benchmark_files(config: dict, name: str) -> list[dict]:
    """Every file source of a task's enabled benchmarks: {key, source}."""
    task = task_config(config, name)
    out = []
    for bench in enabled_benchmarks(task):
        for role, source in benchmark_settings(config, task, bench)["files"].items():
            if source is not None:
                out.append({"key": f"tasks.{name}.benchmarks.{bench}.files.{role}", "source": source,
                            "benchmark": bench})
    return out


def command(item: dict) -> str:
    """The `hf download` command line that fetches one item (what a user can run by hand)."""
    return download_command(item["repo_id"], item["repo_type"], item["revision"], item.get("filename"))


def download(items: list[dict]) -> list[dict]:
    """Download each item into the Hugging Face cache; returns them with the commit each
    resolved to (`commit`) and its local folder (`folder`)."""
    from pathlib import Path

    from huggingface_hub import snapshot_download

    from huggingface_hub import hf_hub_download

    out = []
    for item in items:
        if item.get("filename"):
            path = Path(hf_hub_download(item["repo_id"], item["filename"], repo_type=item["repo_type"],
                                        revision=item["revision"]))
            folder = path.parents[len(Path(item["filename"]).parts) - 1]
        else:
            folder = Path(snapshot_download(item["repo_id"], repo_type=item["repo_type"], revision=item["revision"]))
        out.append({**item, "folder": str(folder), "commit": folder.name})
    return out
