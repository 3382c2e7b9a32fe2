"""Rule benchmark_table: every benchmark score of a task in one table (benchmarks.csv;
isdaa.judges.table)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.io import write_csv
from isdaa.judges.table import benchmark_table
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    table = benchmark_table(list(smk.input), smk.params.prices)
    write_csv(table, smk.output[0])
    print(f"{len(table)} rows")
