"""Rule train_preference: one grid cell's preference training, on the job's `gpu` processes."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.config import execution_settings, method_training, study_config
from isdaa.distributed import processes
from isdaa.io import write_yaml
from isdaa.layout import Layout
from isdaa.preference_training import run_cell
from isdaa.rule import logged

smk = snakemake  # noqa: F821
study = study_config(smk.config, smk.wildcards.task)
cell = dict(smk.params.cell, threads=smk.threads)
# How the cell runs comes from the config at run time, not from the rule's params: a
# change to it reruns nothing. The method's own `training` overrides apply to it too.
cell["execution"] = {
    **execution_settings(study, "preference_training", method_training(study, smk.wildcards.method)),
    # TensorBoard logs outlive the job: outside its outputs, never deleted.
    "logging_dir": f"{Layout(study['results_dir']).task(smk.wildcards.task)}/tensorboard/{cell['name']}",
}
with logged(smk, seed=cell["seed"]):
    result = run_cell(cell, processes(getattr(smk.resources, "gpu", 0)))
    cell["behavior_used"] = result["behavior_used"]
    write_yaml(cell, smk.output.config)
