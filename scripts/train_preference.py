"""Rule train_preference: one grid cell's preference training."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.io import write_yaml
from isdaa.preference_training import train_cell
from isdaa.rule import logged

smk = snakemake  # noqa: F821
cell = dict(smk.params.cell, threads=smk.threads)
with logged(smk, seed=cell["seed"]):
    train_cell(cell)
    write_yaml(cell, smk.output.config)
