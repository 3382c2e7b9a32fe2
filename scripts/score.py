"""Rule score: reference log-probs and gold rewards of a policy's samples, and its
metrics.json."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.config import scoring_settings
from isdaa.evaluation import score, write_evaluation
from isdaa.layout import parse_study
from isdaa.rule import logged, study
from isdaa.runtime import device

smk = snakemake  # noqa: F821
with logged(smk):
    samples = score(pd.read_parquet(smk.input.generations), smk.input.eval_prompts, smk.input.reference_model,
                    scoring_settings(study(smk)), device())
    print(write_evaluation(samples, parse_study(smk.wildcards.task)[0], smk.params.identity, smk.output.samples, smk.output.metrics))
