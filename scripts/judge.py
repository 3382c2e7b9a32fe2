"""Rules judge_alpaca_eval, judge_arena_hard, judge_mt_bench: one policy's judgments and
score on one benchmark (judgments.parquet, score.json; isdaa.judges.run)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.config import task_config
from isdaa.judges.run import judge_policy
from isdaa.judges.settings import benchmark_settings
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    name = smk.params.benchmark
    identity = smk.params.identity
    # The judge's execution settings (endpoint, key variable, concurrency, retries, timeout,
    # failure threshold, cache folder) come from the config; the params hold the rest.
    current = benchmark_settings(smk.config, task_config(smk.config, identity["task"]), name)
    settings = {**smk.params.settings, "judge": {**current["judge"], **smk.params.settings["judge"]}}
    record = judge_policy(smk.input.data, smk.input.answers, settings, identity, smk.config["results_dir"],
                          smk.output.judgments, smk.output.score)
    print(f"{name} {identity['run']}: {record['metrics'] and {m: round(v['score'], 2) for m, v in record['metrics'].items()}}, "
          f"failures {record['failures']}, calls {record['calls']}")
