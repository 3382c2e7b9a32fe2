"""Rule build_model: a tiny randomly initialised policy on the task's tokenizer."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa import modeling
from isdaa.checkpoints import build_causal_lm
from isdaa.rule import logged
from isdaa.tasks import toy

smk = snakemake  # noqa: F821
build = smk.params.build
with logged(smk):
    if build["tokenizer"] == "toy":
        tokenizer = toy.build_tokenizer()
        disallowed = toy.disallowed_response_tokens(tokenizer)
    else:
        tokenizer, disallowed = modeling.load_tokenizer(build["tokenizer"]), []
    model = build_causal_lm(tokenizer, build, seed=build["seed"], disallowed_token_ids=disallowed)
    modeling.save(model, tokenizer, smk.output[0])
    print(f"{sum(p.numel() for p in model.parameters())} parameters, vocabulary {len(tokenizer)}")
