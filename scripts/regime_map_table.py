"""Rule regime_map_table: each IS variant against its baseline at matched KL, per regime
(isdaa.regime_map): regime_map.csv (one row per variant cell) and
regime_map_summary.csv (per regime and variant: the mean over seeds, its interval and
the verdict)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.io import write_csv
from isdaa.regime_map import matched_kl_table, regime_map_summary
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    settings = smk.params.settings
    pairs = [(p["method"], p["baseline"]) for p in settings["regime_pairs"]]
    table = matched_kl_table(pd.read_csv(smk.input.cells), pairs, settings["kl_estimator"])
    write_csv(table, smk.output.cells)
    summary = regime_map_summary(table, regimes=[r["name"] for r in settings["regimes"]])
    write_csv(summary, smk.output.summary)
    print(summary.to_string(index=False))
