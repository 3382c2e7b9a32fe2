"""Rule all_tasks_tables: each kind of table with every task's rows (tables have a `task` column)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.io import write_csv
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    for output in smk.output:
        name = Path(output).name
        frames = [pd.read_csv(path) for path in smk.input if Path(path).name == name]
        write_csv(pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True), output)
