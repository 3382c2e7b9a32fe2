"""Rule evaluate: sample a policy on the held-out prompts, score the samples (gold
reward, reference log-probs) and summarise them in metrics.json."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.evaluation import evaluate_policy
from isdaa.io import write_json, write_parquet
from isdaa.metrics import cell_metrics
from isdaa.rule import logged

smk = snakemake  # noqa: F821
identity = smk.params.identity
with logged(smk, seed=identity["seed"]):
    samples = evaluate_policy(smk.params.model_path, smk.input.eval_prompts, smk.input.reference_model,
                              smk.params.task, smk.params.settings, identity["seed"])
    write_parquet(samples, smk.output.samples)
    metrics = cell_metrics(samples, task=smk.params.task, **identity)
    write_json(metrics, smk.output.metrics)
    print(metrics)
