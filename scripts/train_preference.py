"""Rule train_preference: one grid cell's preference training, on the job's `gpu` processes."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.config import cell_execution, study_config
from isdaa.distributed import processes
from isdaa.io import write_yaml
from isdaa.preference_training import run_cell
from isdaa.rule import logged

smk = snakemake  # noqa: F821
cell = dict(smk.params.cell, threads=smk.threads)
# How the cell runs comes from the config at run time, not from the rule's params: a
# change to it reruns nothing. The method's own `training` overrides apply to it too.
cell["execution"] = cell_execution(study_config(smk.config, smk.wildcards.task), smk.wildcards.method, cell["name"])
with logged(smk, seed=cell["seed"]):
    result = run_cell(cell, processes(getattr(smk.resources, "gpu", 0)))
    cell["behavior_used"] = result["behavior_used"]
    write_yaml(cell, smk.output.config)
