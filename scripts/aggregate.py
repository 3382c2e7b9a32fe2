"""Rule aggregate: every cell's metrics.json as one table, plus means over seeds."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import json

import pandas as pd

from isdaa.io import write_csv
from isdaa.metrics import METRIC_KEYS, summarize
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    rows = []
    for path in [smk.input.sft, *smk.input.cells]:
        with open(path) as f:
            rows.append(json.load(f))
    cells = pd.DataFrame(rows)[METRIC_KEYS]
    write_csv(cells, smk.output.cells)
    write_csv(summarize(cells), smk.output.summary)
