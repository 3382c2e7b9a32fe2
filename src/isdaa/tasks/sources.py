"""Where a dataset source lies and how it is read (a task's `data.<role>` spec).

A spec: {format, path, revision, split, columns, end_text, max_rows, drop_last_rows,
drop_ties}.
`path` is a hub dataset id or a local path: a parquet / jsonl / json file (one split), a
folder of such files laid out as on the hub (splits from file names such as
data/train-00000-of-00001.parquet, or the README's `configs`), or a `save_to_disk`
folder (a Dataset, one split, or a DatasetDict). A hub id is read from its snapshot in
the local Hugging Face cache (downloaded first when online), exactly like a local folder:
`datasets`' own hub loading does not find a cached snapshot offline.

`check_source` is cheap (schemas and metadata only, no network) because config
validation runs it at every Snakefile parse; `load_source` reads the data.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from isdaa import modeling
from isdaa.tasks import FORMATS
from isdaa.tasks.preference_set import RATING_FIELDS

FILE_TYPES = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}
SINGLE_SPLIT = "train"  # what `datasets` calls the one split of a file or a saved Dataset


@dataclass(frozen=True)
class Location:
    """A source on disk. kind: file | folder (hub layout, or a hub snapshot) |
    saved_dataset | saved_dict (save_to_disk); revision: the snapshot's commit (hub ids)."""

    kind: str
    root: Path
    revision: str | None = None


class NotCached(Exception):
    """A hub id that is not in the local cache (and may not be downloaded now)."""


# ------------------------------------------------------------------ local or hub id


def is_local_path(path: str) -> bool:
    """A local file or folder rather than a hub id: as isdaa.modeling.is_local, and also
    whatever exists on disk or ends like a data file (a missing `train.parquet` is a
    missing file, not a hub id)."""
    return (Path(path).expanduser().exists() or Path(path).suffix in FILE_TYPES
            or modeling.is_local(path))


def is_local_source(spec: dict) -> bool:
    return is_local_path(spec["path"])


def offline() -> bool:
    value = os.environ.get("HF_DATASETS_OFFLINE") or ""
    return modeling.offline() or value.lower() in ("1", "true", "yes", "on")


def hub_cache() -> Path:
    """The hub cache, read from the environment now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_ids(spec: dict) -> list[tuple[str, str, str | None]]:
    """What `python -m isdaa fetch` downloads for this source: (repo_type, id, revision)."""
    return [] if is_local_source(spec) else [("dataset", spec["path"], spec.get("revision"))]


def fetch_hint(spec: dict) -> str:
    command = modeling.download_command(spec["path"], "dataset", spec.get("revision"))
    return (f"on a networked machine run `{command}` (or `python -m isdaa fetch --configfile <config>`), then copy "
            f"its Hugging Face cache (HF_HOME) to this machine, where the hub cache is {hub_cache()}")


def snapshot(spec: dict, download: bool) -> Path:
    """The local snapshot folder of a hub id; raises NotCached."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(spec["path"], repo_type="dataset", revision=spec.get("revision"),
                                      cache_dir=hub_cache(), local_files_only=not download))
    except LocalEntryNotFoundError:
        raise NotCached(spec["path"]) from None


def is_cached(spec: dict) -> bool:
    """Whether the source is here: a local path that exists, or a hub id in the local cache."""
    if is_local_source(spec):
        return Path(spec["path"]).expanduser().exists()
    try:
        snapshot(spec, download=False)
        return True
    except NotCached:
        return False


def locate(spec: dict, key: str, download: bool = False) -> Location:
    """Where the source lies; raises NotCached (hub id) or ValueError (a local path that
    is not a source)."""
    if is_local_source(spec):
        root = Path(spec["path"]).expanduser()
        revision = None
        if not root.exists():
            raise ValueError(f"config key {key}.path = {spec['path']!r}: no such file or folder (relative paths are "
                             f"relative to the working directory {os.getcwd()})")
    else:
        root = snapshot(spec, download)
        revision = root.name  # snapshots/<commit>
    if root.is_file():
        if root.suffix not in FILE_TYPES:
            raise ValueError(f"config key {key}.path = {spec['path']!r}: not a data file of a known type "
                             f"{sorted(FILE_TYPES)}")
        return Location("file", root, revision)
    if (root / "dataset_dict.json").is_file():
        return Location("saved_dict", root, revision)
    if (root / "state.json").is_file() and (root / "dataset_info.json").is_file():
        return Location("saved_dataset", root, revision)
    return Location("folder", root, revision)


# ------------------------------------------------------------------ splits and columns


def folder_splits(root: Path, key: str, path: str) -> dict[str, list[str]]:
    """Split -> data files of a hub-layout folder, inferred as `datasets` infers them."""
    from datasets.data_files import EmptyDatasetError
    from datasets.load import LocalDatasetModuleFactory

    try:
        module = LocalDatasetModuleFactory(str(root)).get_module()
    except (EmptyDatasetError, FileNotFoundError) as error:
        raise ValueError(f"config key {key}.path = {path!r}: a folder without data files "
                         f"({', '.join(sorted(FILE_TYPES))}): {error}") from None
    configs = module.builder_configs_parameters
    chosen = next((c for c in configs.builder_configs if c.name == configs.default_config_name),
                  configs.builder_configs[0])
    return {split: list(files) for split, files in chosen.data_files.items()}


def saved_splits(location: Location) -> list[str]:
    if location.kind == "saved_dict":
        return list(json.loads((location.root / "dataset_dict.json").read_text())["splits"])
    return [SINGLE_SPLIT]


def available_splits(location: Location, key: str, path: str) -> list[str]:
    if location.kind == "folder":
        return list(folder_splits(location.root, key, path))
    return saved_splits(location) if location.kind.startswith("saved") else [SINGLE_SPLIT]


def resolve_split(spec: dict, location: Location, key: str) -> str:
    """The split to read; raises ValueError naming the splits the source has."""
    split = spec.get("split")
    splits = available_splits(location, key, spec["path"])
    if location.kind in ("file", "saved_dataset"):
        if split not in (None, SINGLE_SPLIT):
            raise ValueError(f"config key {key}.split = {split!r}: {spec['path']} is a single "
                             f"{'file' if location.kind == 'file' else 'saved Dataset'}, which is one split; "
                             f"use null or {SINGLE_SPLIT!r}")
        return SINGLE_SPLIT
    if split not in splits:
        what = "no split given" if split is None else "no such split"
        raise ValueError(f"config key {key}.split = {split!r}: {what}; {spec['path']} has splits {splits}")
    return split


def file_columns(path: Path) -> list[str]:
    """A data file's column names, from its schema or first record (no full read)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if path.suffix not in FILE_TYPES:
        raise ValueError(f"{path}: not a data file of a known type {sorted(FILE_TYPES)}")
    with open(path, encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        # A JSON document over several lines (a list of records, indented): read it whole.
        record = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(record, list):
        record = record[0] if record else {}
    return list(record) if isinstance(record, dict) else []


def split_files(location: Location, split: str) -> list[Path]:
    """The files that hold a split (what provenance hashes)."""
    if location.kind == "file":
        return [location.root]
    if location.kind == "folder":
        return [Path(f) for f in folder_splits(location.root, "", str(location.root))[split]]
    folder = location.root / split if location.kind == "saved_dict" else location.root
    return sorted(p for p in folder.iterdir() if p.is_file())


def split_columns(location: Location, split: str) -> list[str]:
    if location.kind.startswith("saved"):
        folder = location.root / split if location.kind == "saved_dict" else location.root
        return list(json.loads((folder / "dataset_info.json").read_text())["features"])
    return file_columns(split_files(location, split)[0])


# ------------------------------------------------------------------ check and load


def source_format(spec: dict, role: str, key: str):
    """The spec's format, checked against the role and the column mapping."""
    name = spec.get("format")
    if name not in FORMATS:
        raise ValueError(f"config key {key}.format = {name!r}: unknown format; known: {sorted(FORMATS)}")
    fmt = FORMATS[name]
    if role not in fmt.roles:
        serving = sorted(n for n, f in FORMATS.items() if role in f.roles)
        raise ValueError(f"config key {key}.format = {name!r}: cannot serve the {role} role (it serves "
                         f"{list(fmt.roles)}); formats for {role}: {serving}")
    fmt.check_mapping(spec, key)
    check_drop_ties(fmt, spec, role, key)
    return fmt


def check_drop_ties(fmt, spec: dict, role: str, key: str) -> None:
    """drop_ties acts only on pairs with ratings: anywhere else it would silently do nothing."""
    if not spec.get("drop_ties"):
        return
    if role != "preferences" or not set(RATING_FIELDS) <= set(fmt.field_columns(spec)):
        raise ValueError(f"config key {key}.drop_ties = {spec['drop_ties']!r}: only pairs with ratings can tie "
                         f"(the preferences role of format ultrafeedback, or of format preference with columns "
                         f"{list(RATING_FIELDS)}); here it would drop nothing")


def check_columns(fmt, spec: dict, columns: list[str], split: str, key: str) -> None:
    mapping = fmt.field_columns(spec)
    missing = {field: column for field, column in mapping.items() if column not in columns}
    if not missing:
        return
    where = f"{spec['path']} (split {split})"
    if fmt.columns is None:
        field, column = next(iter(missing.items()))
        raise ValueError(f"config key {key}.columns.{field} = {column!r}: no such column in {where}; "
                         f"columns found: {columns}")
    raise ValueError(f"config key {key}.format = {fmt.name!r}: {where} lacks the format's column(s) "
                     f"{sorted(set(missing.values()))}; columns found: {columns}")


def check_source(spec: dict, role: str, key: str) -> str:
    """'ok', or 'not_cached' for a hub id that is not in the local cache (checked before a
    real run instead). Raises ValueError "config key <key>.<field> = <value>: ..."."""
    fmt = source_format(spec, role, key)
    try:
        location = locate(spec, key)
    except NotCached:
        return "not_cached"
    split = resolve_split(spec, location, key)
    check_columns(fmt, spec, split_columns(location, split), split, key)
    return "ok"


def read_split(location: Location, split: str):
    """The split as a datasets.Dataset."""
    import datasets

    if location.kind == "file":
        return datasets.load_dataset(FILE_TYPES[location.root.suffix], data_files=str(location.root),
                                     split=SINGLE_SPLIT)
    if location.kind == "folder":
        return datasets.load_dataset(str(location.root), split=split)
    saved = datasets.load_from_disk(str(location.root))
    return saved[split] if location.kind == "saved_dict" else saved


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:  # follows a snapshot's links into the cache's blobs
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(spec: dict, location: Location, split: str) -> dict:
    # `datasets` lists a folder's files under its resolved path.
    base = {"file": location.root.parent, "folder": location.root.resolve()}.get(location.kind, location.root)
    files = {Path(os.path.relpath(f, base)).as_posix(): sha256(f) for f in split_files(location, split)}
    return {"path": spec["path"], "revision": location.revision, "split": split, "files": files}


def head_rows(dataset, spec: dict, where: str):
    """drop_last_rows first (the authors hold out the end of the split), then max_rows."""
    drop = spec.get("drop_last_rows") or 0
    if drop:
        if drop >= len(dataset):
            raise ValueError(f"{where}: drop_last_rows = {drop} leaves none of its {len(dataset)} rows")
        dataset = dataset.select(range(len(dataset) - drop))
    if spec.get("max_rows") is not None and spec["max_rows"] < len(dataset):
        dataset = dataset.select(range(spec["max_rows"]))
    return dataset


def load_source(spec: dict, key: str = "data"):
    """(datasets.Dataset of the spec's rows, provenance {path, revision, split, files})."""
    try:
        location = locate(spec, key, download=not offline())
    except NotCached:
        raise ValueError(f"dataset {spec['path']!r} (revision {spec.get('revision') or 'main'}) is not in the Hugging "
                         f"Face cache and HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set: {fetch_hint(spec)}") from None
    split = resolve_split(spec, location, key)
    dataset = head_rows(read_split(location, split), spec, f"{spec['path']} (split {split})")
    return dataset, provenance(spec, location, split)
