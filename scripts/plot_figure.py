"""Rules plot_*: one figure from the result tables (the rule's name says which)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa import plots
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    out, p = smk.output[0], smk.params
    if smk.rule == "plot_kl_tradeoff":
        plots.plot_kl_tradeoff(pd.read_csv(smk.input.summary), out, p.kl_estimator, p.labels)
    elif smk.rule == "plot_gold_vs_beta":
        plots.plot_metric_vs_beta(pd.read_csv(smk.input.summary), out, "gold_reward", p.labels)
    elif smk.rule == "plot_winrate_vs_beta":
        plots.plot_metric_vs_beta(pd.read_csv(smk.input.summary), out, "win_rate", p.labels)
    elif smk.rule == "plot_training_dynamics":
        plots.plot_training_dynamics(pd.read_csv(smk.input.dynamics), pd.read_csv(smk.input.train_logs), out,
                                     p.kl_estimator, p.labels)
    elif smk.rule == "plot_is_eps_ablation":
        plots.plot_is_eps_ablation(pd.read_csv(smk.input.summary), out, p.eps, p.kl_estimator)
    else:
        raise ValueError(f"no figure for rule {smk.rule}")
