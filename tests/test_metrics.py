import math

import numpy as np
import pandas as pd
import pytest

from isdaa.metrics import METRIC_KEYS, cell_metrics, kl_k1, kl_k3, read_metrics, read_train_logs, summarize, win_rate


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


def test_markdown_table_shows_mean_and_spread_over_seeds():
    from isdaa.metrics import markdown_table

    rows = [dict(task="toy", method="dpo", beta=0.1, seed=s, epoch=2, n_samples=2, gold_reward=g, gold_reward_std=1.0,
                 win_rate=0.5, kl_k1=1.0, kl_k3=1.0, mean_length=3.0, malformed_rate=0.0)
            for s, g in ((1, 1.0), (2, 2.0), (3, 3.0))]
    rows.append(dict(rows[0], method="sft", beta=None, seed=0, epoch=0, gold_reward=0.5))
    table = markdown_table(summarize(pd.DataFrame(rows)))
    lines = table.splitlines()
    assert lines[2].startswith("| sft | - | 1 | 0.500 |")  # the reference first; one seed has no spread
    assert lines[3].startswith("| dpo | 0.1 | 3 | 2.000 ± 1.000 |")


def test_read_metrics_keeps_a_new_metric(tmp_path):
    import json

    (tmp_path / "a.json").write_text(json.dumps({"task": "toy", "method": "dpo", "new_metric": 3.0}))
    table = read_metrics([tmp_path / "a.json"])
    assert list(table.columns[: len(METRIC_KEYS)]) == METRIC_KEYS and table["new_metric"].iloc[0] == 3.0


def test_train_logs_carry_their_cell(tmp_path):
    pd.DataFrame({"step": [1, 2], "train_loss": [0.7, 0.6]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"step": [1], "train_loss": [0.5]}).to_csv(tmp_path / "b.csv", index=False)
    logs = read_train_logs([tmp_path / "a.csv", tmp_path / "b.csv"],
                           [("default", "dpo", 0.1, 1), ("lr1e-4", "is_dpo", 1.0, 2)], "toy")
    assert list(logs.columns[:6]) == ["task", "regime", "method", "beta", "seed", "step"]
    assert logs["method"].tolist() == ["dpo", "dpo", "is_dpo"] and logs["seed"].tolist() == [1, 1, 2]
    assert logs["regime"].tolist() == ["default", "default", "lr1e-4"]
