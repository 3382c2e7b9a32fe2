"""Rule plot: one figure of a task (the `figure` wildcard) from its tables, as PDF and PNG."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.plots import FIGURES, save
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    tables = {name: pd.read_csv(smk.input[name]) for name in ("summary", "dynamics", "train_logs")}
    save(FIGURES[smk.wildcards.figure](tables, smk.params.settings), [smk.output.pdf, smk.output.png])
