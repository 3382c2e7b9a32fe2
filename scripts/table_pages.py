"""Rule table_pages: a task's summary and cells tables as HTML pages for the report
(method labels, mean ± std over seeds)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.io import write_text
from isdaa.metrics import cells_display, html_table, summary_display
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    task, labels = smk.wildcards.task, smk.params.labels
    pages = {
        smk.output.summary: html_table(summary_display(pd.read_csv(smk.input.summary), labels), f"Summary of task {task}",
                                       "Mean ± standard deviation over seeds (no ± with one seed)."),
        smk.output.cells: html_table(cells_display(pd.read_csv(smk.input.cells), labels),
                                     f"Every evaluated policy of task {task}",
                                     "One row per cell's final model, and the SFT policy."),
    }
    for path, page in pages.items():
        write_text(page, path)
