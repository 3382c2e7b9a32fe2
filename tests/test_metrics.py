import math

import numpy as np
import pandas as pd
import pytest

from isdaa.metrics import METRIC_KEYS, cell_metrics, kl_k1, kl_k3, summarize, win_rate


def test_kl_estimators_by_hand():
    lp, lr = np.array([-1.0, -2.0]), np.array([-2.0, -1.0])  # d = 1, -1
    assert kl_k1(lp, lr) == 0.0
    assert kl_k3(lp, lr) == pytest.approx(((1 + math.exp(-1) - 1) + (-1 + math.e - 1)) / 2)
    assert kl_k3(lr, lr) == 0.0


def test_win_rate_counts_ties_half():
    assert win_rate([1.0, 0.0, 2.0, 0.5], [0.0, 0.0, 3.0, 0.5]) == pytest.approx((1 + 0.5 + 0 + 0.5) / 4)


def test_cell_metrics_record_and_summary():
    samples = pd.DataFrame({
        "policy_logp": [-1.0, -2.0], "reference_logp": [-1.5, -2.0], "gold": [1.0, 0.0],
        "reference_gold": [0.5, 0.5], "length": [2, 4], "finished": [True, False],
    })
    m = cell_metrics(samples, task="toy", method="dpo", beta=0.1, seed=1, epoch=4)
    assert list(m) == METRIC_KEYS
    assert m["malformed_rate"] == 0.5 and m["mean_length"] == 3 and m["win_rate"] == 0.5
    other = dict(m, seed=2, gold_reward=m["gold_reward"] + 1)
    summary = summarize(pd.DataFrame([m, other]))
    row = summary.iloc[0]
    assert row["n_seeds"] == 2 and row["gold_reward_mean"] == pytest.approx(m["gold_reward"] + 0.5)
    assert row["gold_reward_std"] == pytest.approx(math.sqrt(0.5))
