"""Figures, drawn from the result tables only (never from models)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from isdaa.io import atomic_path  # noqa: E402

KL_LABELS = {"kl_k3": "KL(policy || reference), k3 estimate", "kl_k1": "KL(policy || reference), k1 estimate"}


def plot_kl_tradeoff(summary: pd.DataFrame, path, kl_estimator: str = "kl_k3", labels: dict | None = None):
    """Gold reward against KL: one line per method through its betas (sorted by KL
    strength), every point labelled with its beta; error bars are the standard
    deviation over seeds. The SFT policy is the star at KL 0."""
    labels = labels or {}
    x, y = f"{kl_estimator}_mean", "gold_reward_mean"
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    sft = summary[summary["method"] == "sft"]
    if len(sft):
        ax.scatter(sft[x], sft[y], marker="*", s=180, color="black", zorder=5, label="SFT (reference)")
    for i, (method, rows) in enumerate(summary[summary["method"] != "sft"].groupby("method", sort=False)):
        rows = rows.sort_values("beta", ascending=False)
        xerr = rows[f"{kl_estimator}_std"].fillna(0)
        yerr = rows["gold_reward_std"].fillna(0)
        line = ax.errorbar(rows[x], rows[y], xerr=xerr, yerr=yerr, marker="o", capsize=3,
                           label=labels.get(method, method))
        for _, row in rows.iterrows():
            # Alternate sides per method so that labels of nearby points do not collide.
            ax.annotate(f"β={row['beta']:g}", (row[x], row[y]), textcoords="offset points",
                        xytext=(5, 5) if i % 2 == 0 else (5, -12),
                        fontsize=7, color=line[0].get_color())
    ax.set_xlabel(KL_LABELS[kl_estimator])
    ax.set_ylabel("gold reward (mean over held-out samples)")
    task = ", ".join(sorted(summary["task"].astype(str).unique()))
    ax.set_title(f"Gold reward vs KL ({task})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=150)
    plt.close(fig)
