"""Rule label_preferences: SFT samples, gold-scored and paired (Bradley-Terry labels)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa import modeling
from isdaa.gold import make_scorer
from isdaa.io import require_columns, write_parquet
from isdaa.preferences import make_preferences
from isdaa.rule import logged
from isdaa.runtime import device
from isdaa.sampling import sampler_for
from isdaa.sampling.hf import HFSampler
from isdaa.tokenization import decode_responses, encode_prompts

smk = snakemake  # noqa: F821
settings, sampling, model = smk.params.settings, smk.params.sampling, smk.params.model
with logged(smk, seed=settings["seed"]):
    prompts = pd.read_parquet(smk.input.prompts)
    require_columns(prompts, ["prompt_id", "prompt", "split"], smk.input.prompts)
    tokenizer = modeling.load_tokenizer(smk.input.model)
    prompts["prompt_ids"] = encode_prompts(tokenizer, list(prompts["prompt"]), model["prompt_format"],
                                           model["system_prompt"])
    sampler = sampler_for(smk.input.model, model, sampling, settings["batch_size"], list(prompts["prompt_ids"]),
                          settings["max_new_tokens"], device(), tokenizer)
    behavior = None
    if settings["temperature"] != 1.0:
        # The hf sampler holds the policy already; vLLM's engine is not a torch module.
        behavior = sampler.model if isinstance(sampler, HFSampler) else modeling.load_policy(smk.input.model, model,
                                                                                              device())
    pairs, eval_prompts = make_preferences(
        sampler, prompts, make_scorer(smk.params.gold, device()), settings,
        decode=lambda ids: decode_responses(tokenizer, ids, sampler.spec.end_token_ids), behavior_model=behavior)
    write_parquet(pairs, smk.output.preferences)
    write_parquet(eval_prompts, smk.output.eval_prompts)
    flipped = (pairs["chosen_gold"] < pairs["rejected_gold"]).mean()
    print(f"{len(pairs)} pairs ({flipped:.1%} labels against the gold order), {len(eval_prompts)} eval prompts")
