"""Rule reference_logps: the reference policy's log-probs of every preference pair, once."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa import modeling
from isdaa.io import require_columns, write_parquet
from isdaa.logprobs import score_responses
from isdaa.rule import logged
from isdaa.runtime import device

smk = snakemake  # noqa: F821
with logged(smk):
    pairs = pd.read_parquet(smk.input.preferences)
    require_columns(pairs, ["pair_id", "prompt", "chosen", "rejected"], smk.input.preferences)
    model = modeling.load_model(smk.input.model, device())
    tokenizer = modeling.load_tokenizer(smk.input.model)
    prompts, bs = list(pairs["prompt"]), smk.params.batch_size
    out = pd.DataFrame({
        "pair_id": pairs["pair_id"],
        "reference_chosen_logp": score_responses(model, tokenizer, prompts, list(pairs["chosen"]), bs, desc="chosen"),
        "reference_rejected_logp": score_responses(model, tokenizer, prompts, list(pairs["rejected"]), bs,
                                                   desc="rejected"),
    })
    write_parquet(out, smk.output[0])
