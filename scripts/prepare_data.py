"""Rule prepare_data: the task's SFT demonstrations and its train/eval prompts."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.io import write_parquet
from isdaa.rule import logged
from isdaa.tasks import make_records

smk = snakemake  # noqa: F821
with logged(smk):
    sft, prompts = make_records(smk.params.data)
    write_parquet(pd.DataFrame(sft), smk.output.sft)
    write_parquet(pd.DataFrame(prompts), smk.output.prompts)
    print(f"{len(sft)} SFT demonstrations, {len(prompts)} prompts")
