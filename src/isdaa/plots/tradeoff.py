"""The trade-off figures, small multiples of one panel per DAA family (`_panels`): gold
reward against KL (`kl_tradeoff`), and gold reward or win rate against beta
(`gold_vs_beta`, `winrate_vs_beta`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from isdaa.plots.common import (
    BETA_LABEL,
    GOLD_LABEL,
    KL_LABELS,
    SFT,
    WIN_LABEL,
    add_legend,
    all_methods,
    beta_handles,
    beta_markers,
    beta_text,
    errorbars,
    method_colors,
    method_handle,
    method_linestyle,
    nest_coincident,
    new_figure,
    panel_grid,
    placeholder,
    present_methods,
    seed_note,
    sft_handle,
    task_name,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FAMILY_TITLES = {"baselines": "Baselines (other modifiers)", "other": "Methods"}
POINT_SIZE = 7.5  # markersize of a method's point


def _panels(methods: list[dict], every: list[dict]) -> list[tuple[str, list[dict], dict | None]]:
    """(title, methods, faint reference) of each small-multiple panel: one per DAA
    family (the DAA beside its IS variant), in order of first appearance; then the
    baselines, plain DPO faint behind them. A family with several IS variants (a clip
    ablation) keeps the one at eps = 1 (else its first) beside the DAA, and all of them
    get a panel of their own next to it, the plain DAA faint behind."""
    groups: dict[str, list[dict]] = {}
    for m in methods:
        groups.setdefault(m["family"], []).append(m)
    order = [f for f in groups if f not in ("baselines", "other")] + [f for f in ("baselines", "other") if f in groups]
    present = {m["name"] for m in methods}
    plain_of: dict[str, dict] = {}
    for m in every:
        if m["family"] not in ("baselines", "other") and m.get("is_eps") is None and m["name"] in present:
            plain_of.setdefault(m["family"], m)
    panels = []
    for family in order:
        members = groups[family]
        if family in FAMILY_TITLES:
            ref = plain_of.get("dpo") if family == "baselines" else None
            panels.append((_with_reference(FAMILY_TITLES[family], ref), members, ref))
            continue
        plain = [m for m in members if m.get("is_eps") is None]
        with_is = [m for m in members if m.get("is_eps") is not None]
        name = plain[0]["label"] if plain else family.upper()
        if len(with_is) <= 1:
            title = f"{name} and {with_is[0]['label']}" if with_is and plain else name
            panels.append((title, members, None))
            continue
        main = next((m for m in with_is if float(m["is_eps"]) == 1.0), with_is[0])
        panels.append((f"{name} and {main['label']}" if plain else main["label"],
                       [m for m in members if m.get("is_eps") is None or m is main], None))
        ref = plain[0] if plain else None
        panels.append((_with_reference(f"{name} with IS, over the clip ε", ref), with_is, ref))
    return panels


def _with_reference(title: str, reference: dict | None) -> str:
    return f"{title}\n(faint: {reference['label']})" if reference else title



def _small_multiples(summary: pd.DataFrame, settings: dict, suptitle: str, xlabel: str, ylabel: str,
                     draw, panel_height: float = 2.6):
    """A figure of one panel per `_panels` group, axes shared, labels on the figure,
    the legend outside on the right; `draw(ax, method, rows, k, n, faint)` draws one
    method's series (rows sorted by beta), the k-th of the panel's n."""
    every = all_methods(settings, summary)
    colors = method_colors(every)
    methods = present_methods(every, summary)
    panels = _panels(methods, every)
    if not panels:
        fig = new_figure(6.4, 3.0)
        fig.suptitle(suptitle, fontsize=11)
        return placeholder(fig, "No trained method in the summary table."), [], colors, methods, None
    ncols = {1: 1, 2: 2, 3: 3, 4: 2}.get(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    spare = nrows * ncols > len(panels)
    legend = 0 if spare else 2.1
    # Wide enough for the title beside the legend (one panel and a long task name would overlap).
    title = max(map(len, suptitle.splitlines())) * 0.085
    fig = new_figure(max(3.0 * ncols, title) + legend, panel_height * nrows + 0.9)
    axes, ncols, spare = panel_grid(fig, len(panels))
    for ax, (title, members, ref) in zip(axes, panels):
        drawn = ([ref] if ref else []) + members
        for k, m in enumerate(drawn):
            rows = summary[summary["method"] == m["name"]].sort_values("beta")
            draw(ax, m, rows, k, len(drawn), faint=ref is not None and k == 0)
        ax.set_title(title, fontsize=9.5)
    fig.supxlabel(xlabel, fontsize=10)
    fig.supylabel(ylabel, fontsize=10)
    fig.suptitle(suptitle, fontsize=11)
    return fig, axes, colors, methods, spare


def kl_tradeoff(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Gold reward against KL from SFT, one panel per DAA family (the DAA beside its IS
    variant; a clip ablation in a panel of its own) and one of the baselines (plain DPO
    faint behind them), axes shared; a line per method through its betas, beta by
    marker shape; the SFT policy is the star in every panel."""
    summary = tables["summary"]
    kl = settings.get("kl_estimator", "kl_k3")
    x, y = f"{kl}_mean", "gold_reward_mean"
    markers = beta_markers(summary)
    sft = summary[summary["method"] == SFT]
    colors = method_colors(all_methods(settings, summary))

    def draw(ax, m, rows, k, n, faint):
        c = colors[m["name"]]
        alpha = 0.3 if faint else 1.0
        if not faint:
            errorbars(ax, rows[x], rows[y], rows.get(f"{kl}_std"), rows.get("gold_reward_std"), color=c)
        ax.plot(rows[x], rows[y], color=c, linestyle=method_linestyle(m), linewidth=1.5, alpha=alpha, zorder=3)
        for _, row in rows.iterrows():
            ax.plot(row[x], row[y], linestyle="none", marker=markers.get(float(row["beta"]), "o"),
                    markersize=10.5 if faint else POINT_SIZE, color=c, markeredgecolor="white",
                    markeredgewidth=0.7, alpha=alpha, zorder=4 + k, gid=None if faint else "point")
        if k == n - 1 and len(sft):
            ax.plot(sft[x], sft[y], linestyle="none", marker="*", markersize=13, color="black",
                    markeredgecolor="white", markeredgewidth=0.6, zorder=20)

    suptitle = f"Gold reward vs KL from the SFT policy ({task_name(settings, summary)})\n{seed_note(summary)}"
    fig, axes, colors, methods, spare = _small_multiples(summary, settings, suptitle, KL_LABELS[kl], GOLD_LABEL,
                                                         draw)
    if axes:
        for ax in axes:
            nest_coincident(ax)
        entries = ["Method"] + [(method_handle(m, colors[m["name"]]), m["label"]) for m in methods]
        entries += ["β (marker)"] + beta_handles(markers)
        if len(sft):
            entries += ["Reference", (sft_handle(), "SFT policy")]
        add_legend(fig, entries, ax=spare, ncols=2 if spare is not None and len(entries) > 12 else 1)
    return fig


def _metric_vs_beta(tables: dict[str, pd.DataFrame], settings: dict, metric: str) -> "Figure":
    summary = tables["summary"]
    ylabel = {"gold_reward": GOLD_LABEL, "win_rate": WIN_LABEL}[metric]
    name = {"gold_reward": "Gold reward", "win_rate": "Win rate"}[metric]
    markers = beta_markers(summary)
    betas = sorted(markers)
    sft = summary[summary["method"] == SFT]
    col, err = f"{metric}_mean", f"{metric}_std"
    colors = method_colors(all_methods(settings, summary))

    def draw(ax, m, rows, k, n, faint):
        c = colors[m["name"]]
        # Dodge: the k-th of a panel's n series shifts by a small factor on the log axis.
        shift = 10 ** (0.06 * (k - (n - 1) / 2))
        bx = rows["beta"].astype(float)
        if not faint:
            errorbars(ax, bx * shift, rows[col], None, rows.get(err), color=c)
        alpha = 0.3 if faint else 1.0
        ax.plot(bx * shift, rows[col], color=c, linestyle=method_linestyle(m), linewidth=1.5, alpha=alpha, zorder=3)
        for b, v in zip(bx, rows[col]):
            ax.plot(b * shift, v, linestyle="none", marker=markers.get(float(b), "o"), markersize=6.5, color=c,
                    markeredgecolor="white", markeredgewidth=0.7, alpha=alpha, zorder=4 + k)
        if k == n - 1 and len(sft):
            ax.axhline(sft[col].mean(), color="black", linestyle=(0, (4, 2)), linewidth=1.0, zorder=1)

    suptitle = f"{name} of the final policy vs β ({task_name(settings, summary)})\n{seed_note(summary)}"
    fig, axes, colors, methods, spare = _small_multiples(summary, settings, suptitle, BETA_LABEL, ylabel, draw,
                                                         panel_height=2.4)
    if axes:
        for ax in axes:
            ax.set_xscale("log")
        if betas:
            axes[0].set_xlim(betas[0] / 10 ** 0.35, betas[-1] * 10 ** 0.35)
            axes[0].set_xticks(betas, [beta_text(b) for b in betas])
        for ax in axes:
            ax.minorticks_off()
        entries = ["Method"] + [(method_handle(m, colors[m["name"]]), m["label"]) for m in methods]
        if len(sft):
            entries += ["Reference", (sft_handle(line=True), "SFT policy")]
        add_legend(fig, entries, ax=spare, ncols=2 if spare is not None and len(entries) > 12 else 1)
    return fig


def gold_vs_beta(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Gold reward of the final policy against beta (log axis), panels as in
    `kl_tradeoff`, the methods of a panel dodged sideways around each beta; the SFT
    policy is the dashed line."""
    return _metric_vs_beta(tables, settings, "gold_reward")


def winrate_vs_beta(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Win rate against the dataset's chosen response, laid out as `gold_vs_beta`."""
    return _metric_vs_beta(tables, settings, "win_rate")
