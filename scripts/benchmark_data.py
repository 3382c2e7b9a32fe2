"""Rule benchmark_data: a benchmark's files, fetched and turned into one layout
(questions.parquet, judge.json, sources.json; isdaa.judges.files)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.judges.files import prepare
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    manifest = prepare(smk.params.settings, smk.output[0],
                       key=f"tasks.{smk.wildcards.task}.benchmarks.{smk.wildcards.benchmark}")
    print(f"{manifest['benchmark']} {manifest['version']}: {manifest['questions']} questions from "
          f"{ {role: f['source'] for role, f in manifest['files'].items()} }")
