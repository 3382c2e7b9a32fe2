"""The phenomenon the default study is built to show, checked on the pipeline's own
outputs: DPO over-optimises at low beta. A change that loses it (in the task, the
gold reward, the recipe or the trainer) fails here.

The default study's data, SFT and recipe, with a grid cut to DPO at its lowest beta
and at beta 1, where its gold reward peaks (docs/results.md), on fixed seeds.
"""

import pandas as pd
import pytest
from conftest import default_config
from workflow_helpers import snakemake, with_task, write_config

pytestmark = pytest.mark.slow


def test_dpo_gold_reward_falls_at_its_lowest_beta(tmp_path):
    config = with_task(default_config(), grid={"methods": ["dpo"], "betas": [0.01, 1.0], "seeds": [1]}, dynamics={})
    write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "2", "results/tables/summary.csv")
    summary = pd.read_csv(tmp_path / "results" / "tables" / "summary.csv")
    dpo = summary[summary["method"] == "dpo"].set_index("beta")
    sft = summary[summary["method"] == "sft"].iloc[0]
    low, best = dpo.loc[0.01], dpo.loc[dpo["gold_reward_mean"].idxmax()]
    # Measured: 0.85 at beta 0.01 against 1.17 at beta 1 (SFT 1.07); one seed's
    # evaluation noise is ~0.05.
    assert low["gold_reward_mean"] < best["gold_reward_mean"] - 0.15, dpo
    assert low["gold_reward_mean"] < sft["gold_reward_mean"], (dpo, sft)
    # ... because it drifted furthest from the reference.
    assert low["kl_k3_mean"] > 2 * dpo.loc[1.0, "kl_k3_mean"], dpo
