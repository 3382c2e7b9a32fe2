"""Rule score_references: the study's evaluation prompts (the first evaluation.max_prompts
held-out prompts) with the gold score of the dataset's reference response."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.gold import make_scorer
from isdaa.io import require_columns, write_parquet
from isdaa.rule import logged, study
from isdaa.runtime import device

smk = snakemake  # noqa: F821
with logged(smk):
    prompts = pd.read_parquet(smk.input.prompts)
    require_columns(prompts, ["prompt_id", "prompt", "prompt_ids", "reference"], smk.input.prompts)
    if smk.params.max_prompts:
        prompts = prompts.iloc[: smk.params.max_prompts].reset_index(drop=True)
    scorer = make_scorer(study(smk)["gold"], device())
    # The reference is a finished response: the dataset's own text, end token implied.
    prompts["reference_gold"] = scorer.score(list(prompts["prompt"]), list(prompts["reference"]), [True] * len(prompts))
    write_parquet(prompts[["prompt_id", "prompt", "prompt_ids", "reference", "reference_gold"]], smk.output.eval_prompts)
    print(f"{len(prompts)} evaluation prompts; reference gold {prompts['reference_gold'].mean():.3f} on average")
