"""Rule benchmark_answers: a policy's answers to a benchmark's questions (answers.parquet;
isdaa.benchmark_answers)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.benchmark_answers import answer_questions
from isdaa.config import evaluation_settings
from isdaa.io import write_parquet
from isdaa.rule import logged, study
from isdaa.runtime import device

smk = snakemake  # noqa: F821
with logged(smk, seed=smk.params.seed):
    task = study(smk)
    # The model and sampling sections with their execution settings (vLLM's cache size):
    # read from the config, not the params, so that changing them reruns nothing.
    evaluation = evaluation_settings(task)
    answers = answer_questions(smk.params.model_path, smk.input.data, smk.params.settings, evaluation, smk.params.seed,
                               device(), task["evaluation"]["batch_size"])
    write_parquet(answers, smk.output[0])
    print(f"{smk.params.settings['name']}: {int((answers['status'] == 'ok').sum())} of {len(answers)} turns answered")
