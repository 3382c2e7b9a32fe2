"""Rule reference_logps: the reference policy's log-probs of every preference pair, once,
on the pairs' own token ids (the ones training reads)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa import modeling
from isdaa.io import require_columns, write_parquet
from isdaa.logprobs import sequence_logps
from isdaa.rule import logged, study
from isdaa.runtime import device

smk = snakemake  # noqa: F821
with logged(smk):
    pairs = pd.read_parquet(smk.input.preferences)
    require_columns(pairs, ["pair_id", "prompt_ids", "chosen_ids", "rejected_ids"], smk.input.preferences)
    model = modeling.load_policy(smk.input.model, smk.params.model, device())
    pad = modeling.load_tokenizer(smk.input.model).pad_token_id
    prompts, bs = list(pairs["prompt_ids"]), study(smk)["preference_data"]["batch_size"]
    out = pd.DataFrame({
        "pair_id": pairs["pair_id"],
        "reference_chosen_logp": sequence_logps(model, prompts, list(pairs["chosen_ids"]), bs, pad_token_id=pad,
                                                desc="chosen"),
        "reference_rejected_logp": sequence_logps(model, prompts, list(pairs["rejected_ids"]), bs, pad_token_id=pad,
                                                  desc="rejected"),
    })
    write_parquet(out, smk.output[0])
