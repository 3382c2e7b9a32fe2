"""Rule plot: one figure of a task (the `figure` wildcard) from its tables, as PDF and PNG."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.plots import FIGURES, save
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    # cells.csv (per seed, per regime) for regime_map; other figures' rules may not list it.
    names = ("summary", "dynamics", "train_logs") + (("cells",) if "cells" in smk.input.keys() else ())  # noqa: SIM118
    tables = {name: pd.read_csv(smk.input[name]) for name in names}
    settings = dict(smk.params.settings)
    facts = getattr(smk.params, "facts", None) or {}
    if facts.get("eval_prompts"):  # for titles that say how many prompts a point averages
        settings.setdefault("eval_prompts", facts["eval_prompts"])
    save(FIGURES[smk.wildcards.figure](tables, settings), [smk.output.pdf, smk.output.png])
