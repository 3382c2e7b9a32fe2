"""Rule aggregate: a task's result tables. cells.csv (every final cell and the SFT
policy), summary.csv (mean and std over seeds), dynamics.csv (the snapshots of the
`dynamics` cells) and train_logs.csv (their training logs)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

from isdaa.io import write_csv
from isdaa.metrics import read_metrics, read_train_logs, summarize
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    cells = read_metrics([smk.input.sft, *smk.input.cells])
    write_csv(cells, smk.output.cells)
    write_csv(summarize(cells), smk.output.summary)
    dynamics = read_metrics([smk.input.sft, *smk.input.snapshots, *smk.input.dynamics_finals])
    write_csv(dynamics.sort_values(["method", "beta", "seed", "epoch"], na_position="first"), smk.output.dynamics)
    write_csv(read_train_logs(smk.input.train_logs, smk.params.train_log_cells, smk.wildcards.task),
              smk.output.train_logs)
