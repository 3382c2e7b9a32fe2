"""Rule plot_kl_tradeoff: gold reward against KL, a line per method through its betas."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.plots import plot_kl_tradeoff
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    plot_kl_tradeoff(pd.read_csv(smk.input.summary), smk.output[0], smk.params.kl_estimator, smk.params.labels)
