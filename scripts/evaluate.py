"""Rule evaluate: the `sample` and `score` rules in one job (`evaluation.one_job`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.config import evaluation_settings, scoring_settings
from isdaa.evaluation import generate, score, write_evaluation
from isdaa.io import write_parquet
from isdaa.layout import parse_study
from isdaa.rule import logged, study
from isdaa.runtime import device

smk = snakemake  # noqa: F821
with logged(smk, seed=smk.params.seed):
    config = study(smk)
    generations = generate(smk.params.model_path, smk.input.eval_prompts, evaluation_settings(config), smk.params.seed,
                           device())
    write_parquet(generations, smk.output.generations)
    samples = score(generations, smk.input.eval_prompts, smk.input.reference_model, scoring_settings(config), device())
    print(write_evaluation(samples, parse_study(smk.wildcards.task)[0], smk.params.identity, smk.output.samples, smk.output.metrics))
