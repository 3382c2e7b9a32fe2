"""The clip ablation: IS-DPO over its clip eps, beside plain DPO and the SFT policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from isdaa.plots.common import (
    EPS_LABEL,
    GOLD_LABEL,
    KL_LABELS,
    SFT,
    add_legend,
    all_methods,
    beta_handles,
    beta_markers,
    beta_text,
    errorbars,
    method_colors,
    new_figure,
    placeholder,
    seed_note,
    task_name,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def is_eps_ablation(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """IS-DPO over its clip eps, one column per beta: gold reward (top) and KL (bottom)
    against eps, one x position per eps, each point in its method's colour; plain DPO
    at that beta is the dashed line, the SFT policy the dotted one (its KL is 0)."""
    from matplotlib.lines import Line2D

    summary = tables["summary"]
    kl = settings.get("kl_estimator", "kl_k3")
    eps = settings.get("eps") or {}
    every = all_methods(settings, summary)
    colors = method_colors(every)
    label = {m["name"]: m["label"] for m in every}
    markers = beta_markers(summary)
    task = task_name(settings, summary)
    rows = summary[summary["method"].isin(list(eps))].assign(eps=lambda d: d["method"].map(eps))
    with_is = rows[rows["eps"].notna()].assign(eps=lambda d: d["eps"].astype(float))
    note = seed_note(with_is if len(with_is) else summary)
    if with_is.empty:
        fig = new_figure(7.0, 2.6)
        fig.suptitle(f"Importance-sampling clip ablation ({task})", fontsize=11)
        return placeholder(fig, "No IS-DPO method (DAA dpo with is_eps only) in the grid.")
    all_eps = sorted(with_is["eps"].unique())
    position = {e: i for i, e in enumerate(all_eps)}
    per_beta = with_is.groupby("beta")["eps"].nunique()
    betas = sorted(float(b) for b in (per_beta[per_beta >= 2].index if (per_beta >= 2).any() else per_beta.index))
    base = rows[rows["eps"].isna()]
    sft = summary[summary["method"] == SFT]
    fig = new_figure(2.8 * len(betas) + 2.4, 5.6)
    axes = fig.subplots(2, len(betas), sharex=True, squeeze=False)
    line_color = colors.get(next((m for m, e in eps.items() if e is not None and float(e) == 1.0), ""), "0.5")
    baseline = next((m for m, e in eps.items() if e is None), None)
    for j, beta in enumerate(betas):
        group = with_is[with_is["beta"].astype(float) == beta].sort_values("eps")
        dpo = base[base["beta"].astype(float) == beta]
        for i, column in enumerate(("gold_reward", kl)):
            ax = axes[i, j]
            xs = group["eps"].map(position).to_numpy(dtype=float)
            values = list(group[f"{column}_mean"])
            spread = list(group[f"{column}_std"].fillna(0))
            errorbars(ax, xs, group[f"{column}_mean"], None, group.get(f"{column}_std"), color="0.3")
            ax.plot(xs, group[f"{column}_mean"], color=line_color, linestyle="--", linewidth=1.3, zorder=3)
            for xv, (_, row) in zip(xs, group.iterrows()):
                ax.plot(xv, row[f"{column}_mean"], linestyle="none", marker=markers.get(beta, "o"), markersize=8,
                        color=colors.get(row["method"], "0.3"), markeredgecolor="black", markeredgewidth=0.5,
                        zorder=5)
            refs = []
            if len(dpo):
                refs.append(float(dpo[f"{column}_mean"].iloc[0]))
                ax.axhline(refs[-1], color=colors.get(baseline, "black"), linestyle=(0, (5, 2)), linewidth=1.4,
                           zorder=2)
                std = dpo[f"{column}_std"].iloc[0] if f"{column}_std" in dpo else float("nan")
                if pd.notna(std) and std > 0:
                    ax.axhspan(refs[-1] - std, refs[-1] + std, color=colors.get(baseline, "black"), alpha=0.1,
                               linewidth=0, zorder=1)
                    refs += [refs[-1] - std, refs[-1] + std]
            if len(sft):
                refs.append(float(sft[f"{column}_mean"].mean()))
                ax.axhline(refs[-1], color="black", linestyle=":", linewidth=1.2, zorder=2)
            # Limits hold the points with their bars and the reference lines (DPO with its band).
            lo = min([v - s for v, s in zip(values, spread)] + refs)
            hi = max([v + s for v, s in zip(values, spread)] + refs)
            pad = 0.08 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1.0)
            ax.set_ylim(lo - pad, hi + pad)
            ax.grid(alpha=0.25, linewidth=0.6)
            if i == 0:
                ax.set_title(f"β = {beta_text(beta)}", fontsize=10)
            if j == 0:
                ax.set_ylabel(GOLD_LABEL if column == "gold_reward" else KL_LABELS[kl])
        axes[1, j].set_xlabel(EPS_LABEL)
        axes[1, j].set_xticks(range(len(all_eps)), [f"{e:g}" for e in all_eps])
        axes[1, j].set_xlim(-0.5, len(all_eps) - 0.5)
    ablation = [m for m in every if m["name"] in set(with_is["method"])]
    entries = ["IS-DPO (points)"] + [(Line2D([], [], linestyle="none", marker="o", markersize=7,
                                             color=colors.get(m["name"], "0.3"), markeredgecolor="black",
                                             markeredgewidth=0.5), label[m["name"]]) for m in ablation]
    entries += ["β (marker)"] + beta_handles({b: markers.get(b, "o") for b in betas})
    entries += ["Reference"]
    if baseline is not None and len(base):
        entries.append((Line2D([], [], color=colors.get(baseline, "black"), linestyle=(0, (5, 2)), linewidth=1.4),
                        f"{label.get(baseline, baseline)} (no IS), same β"
                        + (" ± std" if base[f"{kl}_std"].notna().any() else "")))
    if len(sft):
        entries.append((Line2D([], [], color="black", linestyle=":", linewidth=1.2), "SFT policy (KL 0)"))
    add_legend(fig, entries)
    fig.suptitle(f"Importance-sampling clip ablation ({task})\n{note}", fontsize=11)
    return fig
