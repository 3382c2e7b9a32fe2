"""Rule sample: a policy's samples on the held-out prompts, with their token ids and raw
log-probs (generations.parquet)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.config import evaluation_settings
from isdaa.evaluation import generate
from isdaa.io import write_parquet
from isdaa.rule import logged, study
from isdaa.runtime import device

smk = snakemake  # noqa: F821
with logged(smk, seed=smk.params.seed):
    generations = generate(smk.params.model_path, smk.input.eval_prompts, evaluation_settings(study(smk)), smk.params.seed,
                           device())
    write_parquet(generations, smk.output.generations)
