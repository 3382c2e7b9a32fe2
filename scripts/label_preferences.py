"""Rule label_preferences: SFT samples, gold-scored and paired with Bradley-Terry labels."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa import modeling
from isdaa.io import require_columns, write_parquet
from isdaa.preferences import make_preferences
from isdaa.rule import logged
from isdaa.runtime import device
from isdaa.tasks import get_task

smk = snakemake  # noqa: F821
settings = smk.params.settings
with logged(smk, seed=settings["seed"]):
    prompts = pd.read_parquet(smk.input.prompts)
    require_columns(prompts, ["prompt_id", "prompt", "split"], smk.input.prompts)
    model = modeling.load_model(smk.input.model, device())
    tokenizer = modeling.load_tokenizer(smk.input.model)
    pairs, eval_prompts = make_preferences(model, tokenizer, prompts, get_task(smk.params.task), settings,
                                           settings["seed"])
    write_parquet(pairs, smk.output.preferences)
    write_parquet(eval_prompts, smk.output.eval_prompts)
    flipped = (pairs["chosen_gold"] < pairs["rejected_gold"]).mean()
    print(f"{len(pairs)} pairs ({flipped:.1%} labels against the gold order), {len(eval_prompts)} eval prompts")
