"""Rule label_preferences: the toy's SFT samples, gold-scored and paired (its evaluation
prompts' references too)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa import modeling
from isdaa.gold import make_scorer
from isdaa.io import require_columns, write_parquet
from isdaa.preferences import behaviour_sampler, make_preferences
from isdaa.rule import logged, study
from isdaa.runtime import device
from isdaa.tokenization import encode_prompts

smk = snakemake  # noqa: F821
# Full sections (execution settings included) from the config; the params say what the results depend on.
config = study(smk)
settings, model = config["preference_data"], smk.params.model
with logged(smk, seed=settings["seed"]):
    prompts = pd.read_parquet(smk.input.prompts)
    require_columns(prompts, ["prompt_id", "prompt", "split"], smk.input.prompts)
    tokenizer = modeling.load_tokenizer(smk.input.model)
    prompts["prompt_ids"] = encode_prompts(tokenizer, list(prompts["prompt"]), model["prompt_format"],
                                           model["system_prompt"])
    sampler, behavior, decode = behaviour_sampler(smk.input.model, model, config["sampling"], settings,
                                                  prompts["prompt_ids"], device(), tokenizer)
    pairs, eval_prompts = make_preferences(sampler, prompts, make_scorer(config["gold"], device()), settings,
                                           decode=decode, behavior_model=behavior)
    write_parquet(pairs, smk.output.preferences)
    write_parquet(eval_prompts, smk.output.eval_prompts)
    flipped = (pairs["chosen_gold"] < pairs["rejected_gold"]).mean()
    print(f"{len(pairs)} pairs ({flipped:.1%} labels against the gold order), {len(eval_prompts)} eval prompts")
