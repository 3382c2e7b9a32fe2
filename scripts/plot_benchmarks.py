"""Rule plot_benchmarks: the benchmark scores per method and beta (benchmarks.pdf and .png),
from benchmarks.csv only."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.plots import benchmark_scores, save
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    fig = benchmark_scores(pd.read_csv(smk.input[0]), smk.params.settings)
    save(fig, [smk.output.pdf, smk.output.png])
