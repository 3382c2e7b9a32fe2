"""Rule sft: supervised fine-tuning, on the job's `gpu` processes; the result is the reference policy."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import shutil

from isdaa.config import execution_settings, task_config
from isdaa.distributed import processes
from isdaa.layout import Layout
from isdaa.rule import logged
from isdaa.sft import run_sft

smk = snakemake  # noqa: F821
settings = smk.params.settings
task = task_config(smk.config, smk.wildcards.task)
job = {
    "base_model": smk.params.base_model, "sft_data": smk.input.sft, "output_dir": smk.output[0],
    "settings": settings, "model": smk.params.model, "work_dir": smk.params.work_dir, "threads": smk.threads,
    # How SFT runs comes from the config at run time, not from the rule's params: a change
    # to it reruns nothing.
    "execution": {**execution_settings(task, "sft"),
                  "logging_dir": Layout(task["results_dir"]).tensorboard("sft", smk.wildcards.task)},
}
with logged(smk, seed=settings["seed"]):
    run_sft(job, processes(getattr(smk.resources, "gpu", 0)))
    shutil.rmtree(smk.params.work_dir, ignore_errors=True)
