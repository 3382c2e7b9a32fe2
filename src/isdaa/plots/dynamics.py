"""The training-dynamics figure: snapshots of the dynamics cells along training, and
their training logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from isdaa.plots.common import (
    GOLD_LABEL,
    KL_LABELS,
    SFT,
    add_legend,
    all_methods,
    beta_markers,
    beta_text,
    errorbars,
    method_colors,
    method_linestyle,
    new_figure,
    placeholder,
    sft_handle,
    task_name,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BETA_LINESTYLES = ["-", "--", ":", "-."]  # one per beta where several share a method's colour


def training_dynamics(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Along training, one line per (method, beta), mean over seeds: gold reward and KL
    of the snapshots (epoch 0 is the SFT policy), gold against KL (marker size grows
    with the epoch, arrows point the way training went, the last snapshot has a black
    edge), and from the training logs the log-probs of chosen (strong) and rejected
    (faint) responses, the mean importance weight and the fraction of clipped weights."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    dynamics, logs = tables["dynamics"], tables.get("train_logs", pd.DataFrame())
    summary = tables.get("summary", pd.DataFrame())
    kl = settings.get("kl_estimator", "kl_k3")
    task = task_name(settings, dynamics, summary)
    runs = dynamics[dynamics["method"] != SFT] if "method" in dynamics else dynamics
    if runs.empty:
        fig = new_figure(7.0, 2.6)
        fig.suptitle(f"Training dynamics ({task})", fontsize=11)
        return placeholder(fig, "No dynamics cells: select cells under `dynamics` in the config\n"
                                "(methods, betas, seeds) to draw this figure.")
    every = all_methods(settings, summary, dynamics)
    colors = method_colors(every)
    markers = beta_markers(summary, dynamics)
    betas = sorted(runs["beta"].astype(float).unique())
    # Several betas: a line style each (beside the marker); one beta: IS dashed as elsewhere.
    styles = {b: BETA_LINESTYLES[i % len(BETA_LINESTYLES)] for i, b in enumerate(betas)}
    top = float(runs["epoch"].max()) or 1.0
    sft = dynamics[dynamics["method"] == SFT]
    order = {m["name"]: i for i, m in enumerate(every)}
    label = {m["name"]: m["label"] for m in every}
    keys = sorted(runs.groupby(["method", "beta"]).groups, key=lambda mb: (order.get(mb[0], 1e9), float(mb[1])))
    seeds = runs.groupby(["method", "beta"])["seed"].nunique() if "seed" in runs else pd.Series(dtype=int)
    n_seeds = sorted(set(seeds)) if len(seeds) else [1]
    note = ("one seed" if n_seeds == [1] else f"mean ± std over {n_seeds[0]} seeds" if len(n_seeds) == 1
            else f"mean ± std over {n_seeds[0]}–{n_seeds[-1]} seeds")

    fig = new_figure(12.0, 7.2)
    axes = fig.subplots(2, 3)
    (gold_ax, kl_ax, path_ax), (logp_ax, weight_ax, clip_ax) = axes
    entries = []
    epochs_seen = set()
    for method, beta in keys:
        beta = float(beta)
        rows = runs[(runs["method"] == method) & (runs["beta"].astype(float) == beta)]
        by_epoch = rows.groupby("epoch")[["gold_reward", kl]].agg(["mean", "std"])
        if len(sft):
            start = pd.DataFrame({("gold_reward", "mean"): [sft["gold_reward"].mean()],
                                  ("gold_reward", "std"): [float("nan")],
                                  (kl, "mean"): [sft[kl].mean()], (kl, "std"): [float("nan")]}, index=[0.0])
            by_epoch = pd.concat([start, by_epoch])
        ls = styles[beta] if len(betas) > 1 else method_linestyle(next((m for m in every if m["name"] == method), {}))
        c, mk = colors.get(method, "0.3"), markers.get(beta, "o")
        epochs = by_epoch.index.to_numpy(dtype=float)
        epochs_seen |= set(epochs)
        for ax, column in ((gold_ax, "gold_reward"), (kl_ax, kl)):
            errorbars(ax, epochs, by_epoch[(column, "mean")], None, by_epoch[(column, "std")], color=c)
            ax.plot(epochs, by_epoch[(column, "mean")], color=c, linestyle=ls, linewidth=1.5, marker=mk,
                    markersize=5, markeredgecolor="white", markeredgewidth=0.6, zorder=3)
        # Gold against KL: marker size by epoch, an arrow on each step, the end edged black.
        px, py = by_epoch[(kl, "mean")].to_numpy(), by_epoch[("gold_reward", "mean")].to_numpy()
        path_ax.plot(px, py, color=c, linestyle=ls, linewidth=1.2, zorder=3)
        for i, (ex, ey, e) in enumerate(zip(px, py, epochs)):
            if e == 0 and len(sft):
                continue  # the SFT star
            path_ax.plot(ex, ey, linestyle="none", marker=mk, markersize=3.5 + 6.0 * e / top, color=c,
                         markeredgecolor="black" if i == len(px) - 1 else "white",
                         markeredgewidth=1.0 if i == len(px) - 1 else 0.5, zorder=4)
        for i in range(len(px) - 1):
            mid = ((px[i] + px[i + 1]) / 2, (py[i] + py[i + 1]) / 2)
            path_ax.add_patch(FancyArrowPatch((px[i], py[i]), mid, arrowstyle="-|>", mutation_scale=12,
                                              color=c, linewidth=0, zorder=3))
        log = logs[(logs["method"] == method) & (logs["beta"].astype(float) == beta)] if len(logs) else logs
        if len(log):
            steps = log.groupby("step")[["logps_chosen", "logps_rejected", "is_weight_mean",
                                         "is_clipped_fraction"]].mean()
            line = dict(color=c, linestyle=ls, linewidth=1.1)
            logp_ax.plot(steps.index, steps["logps_chosen"], **line)
            logp_ax.plot(steps.index, steps["logps_rejected"], alpha=0.4, **line)
            weight_ax.plot(steps.index, steps["is_weight_mean"], **line)
            clip_ax.plot(steps.index, steps["is_clipped_fraction"], **line)
        entries.append((Line2D([], [], color=c, linestyle=ls, linewidth=1.5, marker=mk, markersize=5,
                               markeredgecolor="white"), f"{label.get(method, method)}, β = {beta_text(beta)}"))
    if len(sft):
        path_ax.plot(sft[kl].mean(), sft["gold_reward"].mean(), linestyle="none", marker="*", markersize=13,
                     color="black", markeredgecolor="white", zorder=20)
        for ax in (gold_ax, kl_ax):
            ax.plot(0.0, sft["gold_reward" if ax is gold_ax else kl].mean(), linestyle="none", marker="*",
                    markersize=11, color="black", markeredgecolor="white", zorder=20)
    if logs.empty or not len(logs[logs["method"].isin(runs["method"])]):
        for ax in (logp_ax, weight_ax, clip_ax):
            ax.text(0.5, 0.5, "no training logs", ha="center", va="center", transform=ax.transAxes, color="0.4")
    gold_ax.set(xlabel="epoch", ylabel=GOLD_LABEL)
    gold_ax.set_title("Gold reward along training", fontsize=10)
    kl_ax.set(xlabel="epoch", ylabel=KL_LABELS[kl])
    kl_ax.set_title("KL along training", fontsize=10)
    path_ax.set(xlabel=KL_LABELS[kl], ylabel=GOLD_LABEL)
    path_ax.set_title("Gold vs KL along training\n(arrows: direction; marker size: epoch)", fontsize=10)
    logp_ax.set(xlabel="training step", ylabel="policy log-prob (sum over response)")
    logp_ax.set_title("Log-probs: chosen (strong), rejected (faint)", fontsize=10)
    weight_ax.set(xlabel="training step", ylabel="mean importance weight")
    weight_ax.set_title("Importance weight (1 without IS)", fontsize=10)
    clip_ax.set(xlabel="training step", ylabel="fraction of weights clipped")
    clip_ax.set_title("Clipped IS weights", fontsize=10)
    for ax in axes.flat:
        ax.grid(alpha=0.25, linewidth=0.6)
    epochs_marked = sorted(e for e in epochs_seen if e > 0)
    if len(epochs_marked) > 5:
        epochs_marked = [epochs_marked[0], epochs_marked[len(epochs_marked) // 2], epochs_marked[-1]]
    entries = ["Cell (method, β)"] + entries + ["Snapshot"]
    for e in epochs_marked:
        entries.append((Line2D([], [], linestyle="none", marker="o", markersize=3.5 + 6.0 * e / top, color="0.55",
                               markeredgecolor="black" if e == top else "white"),
                        f"epoch {e:g}" + (" (end)" if e == top else "")))
    if len(sft):
        entries += [(sft_handle(), "SFT policy (epoch 0)")]
    add_legend(fig, entries, loc="outside right upper")
    fig.suptitle(f"Training dynamics ({task}; {note})", fontsize=11)
    return fig
