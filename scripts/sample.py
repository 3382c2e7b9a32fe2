"""Rule sample: held-out samples of a policy (the SFT model or a cell)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.evaluation import generate
from isdaa.io import write_parquet
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk, seed=smk.params.seed):
    write_parquet(generate(smk.input.model, smk.input.eval_prompts, smk.params.settings, smk.params.seed),
                  smk.output[0])
