"""Rule relabel_pairs: the preference set's prompts, sampled from the SFT policy, scored by
the gold reward, paired and labelled (the paper's relabelling), with behaviour log-probs."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa import modeling
from isdaa.gold import make_scorer
from isdaa.io import require_columns, write_json, write_parquet
from isdaa.preferences import behaviour_sampler, relabel
from isdaa.rule import logged, study
from isdaa.runtime import device

smk = snakemake  # noqa: F821
# Full sections (execution settings included) from the config; the params say what the results depend on.
config = study(smk)
settings, model = config["preference_data"], smk.params.model
with logged(smk, seed=settings["seed"]):
    source = pd.read_parquet(smk.input.source_pairs)
    require_columns(source, ["prompt_id", "prompt", "prompt_ids"], smk.input.source_pairs)
    # The distinct prompts of the set, in order of first appearance.
    prompts = source.drop_duplicates("prompt_id")[["prompt_id", "prompt", "prompt_ids"]]
    if settings["max_prompts"]:
        prompts = prompts.iloc[: settings["max_prompts"]]
    tokenizer = modeling.load_tokenizer(smk.input.model)
    sampler, behavior, decode = behaviour_sampler(smk.input.model, model, config["sampling"], settings,
                                                  prompts["prompt_ids"], device(), tokenizer)
    pairs, counts = relabel(sampler, prompts, make_scorer(config["gold"], device()), settings, decode=decode,
                            behavior_model=behavior)
    write_parquet(pairs, smk.output.preferences)
    write_json({"mode": "relabel", "behavior": settings["behavior"], **counts}, smk.output.labelling)
    print(f"{len(pairs)} pairs from {len(prompts)} prompts: {counts}")
