"""Rule sft: supervised fine-tuning; the result is the reference policy."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import shutil

from isdaa.rule import logged
from isdaa.sft import train_sft

smk = snakemake  # noqa: F821
settings = smk.params.settings
with logged(smk, seed=settings["seed"]):
    train_sft(smk.params.base_model, smk.input.sft, smk.output[0], settings, smk.params.model, smk.params.work_dir)
    shutil.rmtree(smk.params.work_dir, ignore_errors=True)
