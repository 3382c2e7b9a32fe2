"""Figures, drawn from the result tables only (never from models).

Every function takes tables (as written under results/tables/) and a path whose
extension picks the format. A method keeps its colour in every figure.
"""

from __future__ import annotations

import pandas as pd

from isdaa.io import atomic_path


class _LazyPyplot:
    """matplotlib.pyplot on first use: the Snakefile imports this module for the figure
    names on every parse, and pyplot's import costs ~0.5 s."""

    def __getattr__(self, name):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot

        return getattr(matplotlib.pyplot, name)


plt = _LazyPyplot()

KL_LABELS = {"kl_k3": "KL(policy || reference), k3 estimate", "kl_k1": "KL(policy || reference), k1 estimate"}
GOLD_LABEL = "gold reward (mean over held-out samples)"
WIN_LABEL = "win rate against the dataset's chosen response"


def _colors(methods) -> dict:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(dict.fromkeys(methods))}


def _save(fig, path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=150)
    plt.close(fig)


def _task(table: pd.DataFrame) -> str:
    return ", ".join(sorted(table["task"].astype(str).unique()))


def _policies(summary: pd.DataFrame):
    """(SFT rows, [(method, rows sorted by beta)] in table order)."""
    sft = summary[summary["method"] == "sft"]
    grid = summary[summary["method"] != "sft"]
    return sft, [(m, rows.sort_values("beta")) for m, rows in grid.groupby("method", sort=False)]


def plot_kl_tradeoff(summary: pd.DataFrame, path, kl_estimator: str = "kl_k3", labels: dict | None = None):
    """Gold reward against KL: one line per method through its betas (sorted by KL
    strength), every point labelled with its beta; error bars are the standard
    deviation over seeds. The SFT policy is the star at KL 0."""
    labels = labels or {}
    x, y = f"{kl_estimator}_mean", "gold_reward_mean"
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    sft, methods = _policies(summary)
    colors = _colors(m for m, _ in methods)
    if len(sft):
        ax.scatter(sft[x], sft[y], marker="*", s=180, color="black", zorder=5, label="SFT (reference)")
    for i, (method, rows) in enumerate(methods):
        rows = rows.iloc[::-1]
        ax.errorbar(rows[x], rows[y], xerr=rows[f"{kl_estimator}_std"].fillna(0),
                    yerr=rows["gold_reward_std"].fillna(0), marker="o", capsize=3, color=colors[method],
                    label=labels.get(method, method))
        for _, row in rows.iterrows():
            # Alternate sides per method so that labels of nearby points do not collide.
            ax.annotate(f"β={row['beta']:g}", (row[x], row[y]), textcoords="offset points",
                        xytext=(5, 5) if i % 2 == 0 else (5, -12), fontsize=7, color=colors[method])
    ax.set_xlabel(KL_LABELS[kl_estimator])
    ax.set_ylabel(GOLD_LABEL)
    ax.set_title(f"Gold reward vs KL ({_task(summary)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_metric_vs_beta(summary: pd.DataFrame, path, metric: str, labels: dict | None = None):
    """`metric` (gold_reward or win_rate) against beta on a log axis, one line per
    method, error bars the standard deviation over seeds; the SFT policy is the
    dashed line."""
    labels = labels or {}
    ylabel = {"gold_reward": GOLD_LABEL, "win_rate": WIN_LABEL}[metric]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    sft, methods = _policies(summary)
    colors = _colors(m for m, _ in methods)
    if len(sft):
        ax.axhline(sft[f"{metric}_mean"].mean(), color="black", linestyle="--", linewidth=1, label="SFT (reference)")
    for method, rows in methods:
        ax.errorbar(rows["beta"], rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0), marker="o",
                    capsize=3, color=colors[method], label=labels.get(method, method))
    ax.set_xscale("log")
    ax.set_xlabel("β (KL strength)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel.split(' (')[0].capitalize()} vs β ({_task(summary)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_training_dynamics(dynamics: pd.DataFrame, train_logs: pd.DataFrame, path, kl_estimator: str = "kl_k3",
                           labels: dict | None = None):
    """Along training, one line per (method, beta), mean over seeds: gold reward and
    KL of the snapshots (every 1/snapshots_per_epoch of an epoch; epoch 0 is the SFT policy), gold against KL along
    the way, and from the training logs the policy log-probs of chosen and rejected
    responses, the mean importance weight and the fraction of clipped weights."""
    labels = labels or {}
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.4))
    (gold_ax, kl_ax, path_ax), (logp_ax, weight_ax, clip_ax) = axes
    if dynamics.empty:
        for ax in axes.flat:
            ax.set_axis_off()
        axes[0, 0].text(0, 0.5, "no cell selected under `dynamics` in the config", fontsize=11)
        _save(fig, path)
        return
    sft = dynamics[dynamics["method"] == "sft"]
    runs = dynamics[dynamics["method"] != "sft"]
    colors = _colors(runs["method"])
    styles = {b: s for b, s in zip(sorted(runs["beta"].unique()), ["-", "--", ":", "-."] * 8)}
    for (method, beta), rows in runs.groupby(["method", "beta"], sort=False):
        by_epoch = rows.groupby("epoch")[["gold_reward", kl_estimator]].agg(["mean", "std"])
        if len(sft):
            start = pd.DataFrame({("gold_reward", "mean"): [sft["gold_reward"].mean()], ("gold_reward", "std"): [0.0],
                                  (kl_estimator, "mean"): [sft[kl_estimator].mean()], (kl_estimator, "std"): [0.0]},
                                 index=[0.0])
            by_epoch = pd.concat([start, by_epoch])
        style = dict(color=colors[method], linestyle=styles[beta], marker="o", markersize=4)
        label = f"{labels.get(method, method)}, β={beta:g}"
        for ax, column in ((gold_ax, "gold_reward"), (kl_ax, kl_estimator)):
            ax.errorbar(by_epoch.index, by_epoch[(column, "mean")], yerr=by_epoch[(column, "std")].fillna(0),
                        capsize=2, label=label, **style)
        path_ax.plot(by_epoch[(kl_estimator, "mean")], by_epoch[("gold_reward", "mean")], label=label, **style)
        log = train_logs[(train_logs["method"] == method) & (train_logs["beta"] == beta)]
        if len(log):
            steps = log.groupby("step")[["logps_chosen", "logps_rejected", "is_weight_mean",
                                         "is_clipped_fraction"]].mean()
            line = dict(color=colors[method], linestyle=styles[beta], linewidth=1.2)
            logp_ax.plot(steps.index, steps["logps_chosen"], label=f"{label}, chosen", **line)
            logp_ax.plot(steps.index, steps["logps_rejected"], label=f"{label}, rejected", alpha=0.5, **line)
            weight_ax.plot(steps.index, steps["is_weight_mean"], label=label, **line)
            clip_ax.plot(steps.index, steps["is_clipped_fraction"], label=label, **line)
    gold_ax.set(xlabel="epoch", ylabel=GOLD_LABEL, title="Gold reward along training")
    kl_ax.set(xlabel="epoch", ylabel=KL_LABELS[kl_estimator], title="KL along training")
    path_ax.set(xlabel=KL_LABELS[kl_estimator], ylabel=GOLD_LABEL, title="Gold vs KL, epoch by epoch")
    logp_ax.set(xlabel="step", ylabel="policy log-prob (sum over response)",
                title="Chosen (dark) and rejected (light) log-probs")
    weight_ax.set(xlabel="step", ylabel="mean importance weight", title="Importance weight (1 without IS)")
    clip_ax.set(xlabel="step", ylabel="fraction of weights clipped", title="Clipped weights")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    gold_ax.legend(fontsize=7)
    fig.suptitle(f"Training dynamics ({_task(dynamics)}); mean over seeds, bars = std")
    _save(fig, path)


def plot_is_eps_ablation(summary: pd.DataFrame, path, eps: dict, kl_estimator: str = "kl_k3"):
    """IS-DPO over its clip eps: gold reward and KL against eps, one line per beta;
    plain DPO (no importance sampling) at the same beta is the dashed line. `eps` maps
    each method of the ablation to its clip, None for the baseline without IS."""
    fig, (gold_ax, kl_ax) = plt.subplots(1, 2, figsize=(11, 4.4))
    rows = summary[summary["method"].isin(eps)].assign(eps=lambda d: d["method"].map(eps))
    with_is = rows[rows["eps"].notna()]
    if with_is.empty:
        for ax in (gold_ax, kl_ax):
            ax.set_axis_off()
        gold_ax.text(0, 0.5, "no IS-DPO method (daa dpo with is_eps only) in the grid", fontsize=11)
        _save(fig, path)
        return
    colors = _colors(sorted(rows["beta"].unique()))
    for beta, group in with_is.groupby("beta"):
        group = group.sort_values("eps")
        for ax, column in ((gold_ax, "gold_reward"), (kl_ax, kl_estimator)):
            ax.errorbar(group["eps"].astype(float), group[f"{column}_mean"], yerr=group[f"{column}_std"].fillna(0),
                        marker="o", capsize=3, color=colors[beta], label=f"IS-DPO, β={beta:g}")
            base = rows[(rows["eps"].isna()) & (rows["beta"] == beta)]
            if len(base):
                ax.axhline(base[f"{column}_mean"].iloc[0], color=colors[beta], linestyle="--", linewidth=1,
                           label=f"DPO, β={beta:g}")
    sft = summary[summary["method"] == "sft"]
    if len(sft):
        gold_ax.axhline(sft["gold_reward_mean"].mean(), color="black", linestyle=":", linewidth=1, label="SFT")
    gold_ax.set(ylabel=GOLD_LABEL, title="Gold reward vs clip ε")
    kl_ax.set(ylabel=KL_LABELS[kl_estimator], title="KL vs clip ε")
    ticks = sorted(with_is["eps"].astype(float).unique())
    for ax in (gold_ax, kl_ax):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("ε (weights clipped at exp(2ε))")
        ax.grid(alpha=0.3)
    gold_ax.legend(fontsize=7)
    fig.suptitle(f"Importance-sampling clip ablation ({_task(summary)}); mean over seeds, bars = std")
    _save(fig, path)


def _kl_tradeoff(tables, path, settings):
    plot_kl_tradeoff(tables["summary"], path, settings["kl_estimator"], settings["labels"])


def _gold_vs_beta(tables, path, settings):
    plot_metric_vs_beta(tables["summary"], path, "gold_reward", settings["labels"])


def _winrate_vs_beta(tables, path, settings):
    plot_metric_vs_beta(tables["summary"], path, "win_rate", settings["labels"])


def _training_dynamics(tables, path, settings):
    plot_training_dynamics(tables["dynamics"], tables["train_logs"], path, settings["kl_estimator"],
                           settings["labels"])


def _is_eps_ablation(tables, path, settings):
    plot_is_eps_ablation(tables["summary"], path, settings["eps"], settings["kl_estimator"])


# Every figure of a task: name -> function(tables, path, settings). `tables` holds the
# task's summary, dynamics and train_logs tables; `settings` the `plots` section plus
# the task's method labels (`labels`) and its clip-ablation methods (`eps`).
FIGURES = {
    "kl_tradeoff": _kl_tradeoff,
    "gold_vs_beta": _gold_vs_beta,
    "winrate_vs_beta": _winrate_vs_beta,
    "training_dynamics": _training_dynamics,
    "is_eps_ablation": _is_eps_ablation,
}
