"""Rules prepare_sft, prepare_pairs, prepare_eval: one of a task's datasets, read, cleaned
(bad rows dropped and counted) and tokenised with the policy's tokenizer."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa import modeling
from isdaa.io import write_json, write_parquet
from isdaa.rule import logged
from isdaa.tasks.cleaning import prepare_role

smk = snakemake  # noqa: F821
settings = smk.params.settings
with logged(smk):
    tokenizer = modeling.load_tokenizer(settings["tokenizer"])
    table, report = prepare_role(smk.params.role, settings["source"], tokenizer, settings["model"],
                                 settings["limits"], settings["over_length"])
    write_parquet(table, smk.output[0])
    write_json(report, smk.output.report)
    print(f"{smk.params.role}: {report['rows_kept']} of {report['rows_read']} rows kept; dropped {report['dropped']}")
