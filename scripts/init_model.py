"""Rule init_model: the task's tokenizer and a freshly initialised tiny model."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa import modeling
from isdaa.rule import logged
from isdaa.tasks import get_task

smk = snakemake  # noqa: F821
with logged(smk):
    task = get_task(smk.params.task)
    tokenizer = task.build_tokenizer()
    model = modeling.build_model(tokenizer, smk.params.model, task.disallowed_response_tokens(tokenizer),
                                 seed=smk.params.model["seed"])
    modeling.save(model, tokenizer, smk.output[0])
    print(f"{sum(p.numel() for p in model.parameters())} parameters, vocabulary {len(tokenizer)}")
