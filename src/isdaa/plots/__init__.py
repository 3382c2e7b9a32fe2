"""Figures, drawn from the result tables only (never from models).

`FIGURES` maps each figure's name to a function ``(tables, settings) -> Figure`` that
draws and returns the figure; `save` writes it (PDF, PNG, ... by extension) and closes
it. `tables` holds a task's "summary", "dynamics" and "train_logs" tables (as written
under results/<task>/tables/) and, for `regime_map`, its "cells" (per seed and regime);
`settings` is what `plot_settings` builds from the task's config (plus the config's
`plots` section and, for `regime_map`, "regimes" and "regime_pairs"). `benchmark_scores`
draws the LLM-judge benchmarks from another table (benchmarks.csv) by its own rule: it
is not in `FIGURES`.

What every figure shares, so that one reads the others:
- a method keeps one colour everywhere: each DAA family one hue (DPO blue, IPO green,
  SLiC purple), its importance-sampled variants lighter shades of it (the looser the
  clip, the lighter) drawn dashed, the baselines (other modifiers) their own colours;
- beta is a marker shape (legend "β"), never a text label beside a point;
- the SFT policy (the reference) is a black star, or a black line where x is not KL;
- legends list methods in the config's order with the config's labels, and sit
  outside the axes;
- error bars are the standard deviation over seeds (a benchmark score of one seed: its
  interval), drawn thin and faint under the points; titles say how many seeds each
  point averages.

Modules: `common` (what the figures share, `save`), then one per figure family:
`tradeoff`, `dynamics`, `ablation`, `regimes` (the regime map), `benchmarks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pandas as pd

from isdaa.plots.ablation import is_eps_ablation
from isdaa.plots.benchmarks import benchmark_scores  # noqa: F401 (drawn by its own rule)
from isdaa.plots.common import (  # noqa: F401 (the public API)
    BETA_LABEL,
    DPI,
    EPS_LABEL,
    GOLD_LABEL,
    KL_LABELS,
    SFT,
    WIN_LABEL,
    method_colors,
    plot_settings,
    save,
)
from isdaa.plots.dynamics import training_dynamics
from isdaa.plots.regimes import regime_map
from isdaa.plots.tradeoff import gold_vs_beta, kl_tradeoff, winrate_vs_beta

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Every figure of a task: name -> function(tables, settings) -> Figure. `tables` holds the
# task's "summary", "dynamics", "train_logs" and "cells" tables; `settings` is `plot_settings`'s
# dict (plus "regimes", "regime_pairs" and "eval_prompts" where known).
FIGURES: dict[str, Callable[[dict[str, pd.DataFrame], dict], "Figure"]] = {
    "kl_tradeoff": kl_tradeoff,
    "gold_vs_beta": gold_vs_beta,
    "winrate_vs_beta": winrate_vs_beta,
    "training_dynamics": training_dynamics,
    "is_eps_ablation": is_eps_ablation,
    "regime_map": regime_map,
}

