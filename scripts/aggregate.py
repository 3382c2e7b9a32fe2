"""Rule aggregate: a task's result tables, over its regimes. cells.csv (every final cell
and, per regime, the SFT policy on that regime's evaluation data), summary.csv (mean
and std over seeds), dynamics.csv (the snapshots of the `dynamics` cells) and
train_logs.csv (their training logs). Every table has a `regime` column."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.io import write_csv
from isdaa.metrics import read_metrics, read_train_logs, summarize, with_regimes
from isdaa.rule import logged


def by_regime(sft: pd.DataFrame, policies: pd.DataFrame) -> pd.DataFrame:
    """Each regime's SFT row, then its policies, regimes in config order."""
    parts = [pd.concat([sft[sft["regime"] == r], policies[policies["regime"] == r]]) for r in sft["regime"]]
    return pd.concat(parts, ignore_index=True)


smk = snakemake  # noqa: F821
with logged(smk):
    p = smk.params
    sft = with_regimes(read_metrics(list(p.sft_of_regime.values())), list(p.sft_of_regime))
    cells = by_regime(sft, with_regimes(read_metrics(smk.input.cells), p.cell_regimes))
    write_csv(cells, smk.output.cells)
    write_csv(summarize(cells), smk.output.summary)
    snapshots = read_metrics([*smk.input.snapshots, *smk.input.dynamics_finals])
    dynamics = pd.concat([sft, with_regimes(snapshots, [*p.snapshot_regimes, *p.dynamics_regimes])],
                         ignore_index=True)
    write_csv(dynamics.sort_values(["regime", "method", "beta", "seed", "epoch"], na_position="first"),
              smk.output.dynamics)
    write_csv(read_train_logs(smk.input.train_logs, p.train_log_cells, smk.wildcards.task), smk.output.train_logs)
