"""The regime map: where importance sampling helps or hurts at matched KL, per regime
(the numbers are `isdaa.regime_map`'s, imported on drawing only), beside each regime's
gold-vs-KL curves."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from isdaa.plots.common import (
    GOLD_LABEL,
    KL_LABELS,
    SFT,
    add_legend,
    all_methods,
    beta_handles,
    beta_markers,
    errorbars,
    method_colors,
    method_handle,
    method_linestyle,
    nest_coincident,
    new_figure,
    placeholder,
    present_methods,
    sft_handle,
    task_name,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAP_CMAP = "RdBu"  # red: the IS variant below its baseline, blue: above
MAP_CELL = (1.12, 0.66)  # inches per map cell (width, height)
PANEL = (3.2, 2.6)  # inches per regime panel
LEGEND_WIDTH = 2.3


def _regime_order(settings: dict, cells: pd.DataFrame) -> list[tuple[str, str]]:
    """(name, label) of each regime with cells: the settings' order, then the table's."""
    labels = {str(r["name"]): str(r.get("label") or r["name"]) for r in settings.get("regimes") or []}
    present = list(dict.fromkeys(cells["regime"]))
    names = [n for n in labels if n in present] + [n for n in present if n not in labels]
    return [(n, labels.get(n, n)) for n in names]


def _regime_pairs(settings: dict, cells: pd.DataFrame) -> list[tuple[str, str]]:
    """(variant, baseline) of the map's columns: settings["regime_pairs"]; else each
    settings method with an is_eps beside the plain method of its DAA; without settings'
    methods, each "is_X..." method of the cells beside the longest method name X starts with."""
    if settings.get("regime_pairs"):
        return [(str(p["method"]), str(p["baseline"])) for p in settings["regime_pairs"]]
    methods = settings.get("methods") or []
    pairs = []
    if methods:
        for m in methods:
            if m.get("is_eps") is None:
                continue
            plain = [b for b in methods if b.get("is_eps") is None and b.get("daa") == m.get("daa")]
            base = next((b for b in plain if b.get("family") == b.get("daa")), plain[0] if plain else None)
            if base is not None:
                pairs.append((m["name"], base["name"]))
        return pairs
    names = [n for n in dict.fromkeys(cells["method"].astype(str)) if n != SFT]
    for name in names:
        if name.startswith("is_"):
            base = max((b for b in names if not b.startswith("is_") and name[3:].startswith(b)), key=len, default=None)
            if base is not None:
                pairs.append((name, base))
    return pairs


def _regime_cells(tables: dict[str, pd.DataFrame], kl: str) -> tuple[pd.DataFrame, str]:
    """The cells table with a regime column, and a note for the title: without a cells
    table, the summary's means (one point per beta, so no interval)."""
    from isdaa.regime_map import with_regime

    cells = tables.get("cells")
    if cells is not None and len(cells) and kl in cells:
        return with_regime(cells), ""
    summary = tables.get("summary", pd.DataFrame())
    means = {c: c[: -len("_mean")] for c in summary if c.endswith("_mean")}
    cells = summary.rename(columns=means).assign(seed=0)
    if "n_seeds" in cells:
        cells = cells.drop(columns="n_seeds")
    return with_regime(cells), "no cells table: one point per β, no interval"


def _signed(x: float, digits: int) -> str:
    """x with its sign (a true minus), 0 without one."""
    return f"{0:.{digits}f}" if x == 0 else f"{x:+.{digits}f}".replace("-", "−")


def _map_text(row, digits: int) -> str:
    """A map cell's annotation: the mean, the interval, how many cells were in range; a
    digit more where a bound other than 0 would read as 0."""
    if row is None:
        return "not run"
    if row["verdict"] == "no overlap":
        return "no overlap"
    values = [v for v in (row["delta_mean"], row["ci_low"], row["ci_high"]) if pd.notna(v) and v != 0]
    while digits < 4 and any(round(v, digits) == 0 for v in values):
        digits += 1
    lines = [_signed(row["delta_mean"], digits)]
    lines.append("one seed" if row["verdict"] == "one seed"
                 else f"[{_signed(row['ci_low'], digits)}, {_signed(row['ci_high'], digits)}]")
    if row["n_in_range"] < row["n_cells"]:
        lines.append(f"{row['n_in_range']}/{row['n_cells']} in range")
    return "\n".join(lines)


def _draw_map(sub, summary: pd.DataFrame, regimes, pairs, label: dict) -> None:
    """The map on `sub`: rows regimes, columns (variant, baseline), colour Δ, text the
    mean and interval; faded and hatched where the interval contains 0; a colorbar."""
    import textwrap

    import numpy as np
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize, to_rgba
    from matplotlib.patches import Rectangle

    at = {(r["regime"], r["method"], r["baseline"]): r for _, r in summary.iterrows()}
    # The colour scale spans the groups with an interval; a one-seed outlier is clipped.
    with_interval = summary[summary["verdict"].isin(["helps", "hurts", "no difference"])]
    finite = (with_interval if len(with_interval) else summary)["delta_mean"].abs().dropna()
    vmax = float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
    digits = min(4, max(3, 1 - math.floor(math.log10(vmax))))
    norm, cmap = Normalize(-vmax, vmax), colormaps[MAP_CMAP]
    ax = sub.subplots()
    image = np.ones((len(regimes), len(pairs), 4))
    for i, (regime, _) in enumerate(regimes):
        for j, (variant, baseline) in enumerate(pairs):
            row = at.get((regime, variant, baseline))
            verdict = None if row is None else row["verdict"]
            strong = verdict in ("helps", "hurts")
            if verdict in (None, "no overlap"):
                color = np.array(to_rgba("0.93"))
            else:
                color = np.array(cmap(norm(row["delta_mean"])))
                if not strong:  # the interval holds 0 or is unknown: faded toward white
                    color = 0.35 * color + 0.65 * np.ones(4)
            image[i, j] = color
            if verdict in ("no difference", "one seed"):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////", edgecolor="0.72",
                                       linewidth=0, zorder=2))
            dark = strong and abs(norm(row["delta_mean"]) - 0.5) > 0.3
            ax.text(j, i, _map_text(row, digits), ha="center", va="center", fontsize=7.5, linespacing=1.25,
                    color="white" if dark else ("black" if strong else "0.3"),
                    fontweight="bold" if strong else "normal", zorder=3,
                    bbox=None if strong else {"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.0})
    ax.imshow(image, aspect="auto", interpolation="nearest", zorder=1)
    ax.set_xticks(range(len(pairs)), ["\n".join(textwrap.wrap(label.get(v, v), 16)) + "\nvs "
                                      + "\n".join(textwrap.wrap(label.get(b, b), 16)) for v, b in pairs],
                  fontsize=7.5)
    ax.set_yticks(range(len(regimes)), ["\n".join(textwrap.wrap(text, 18)) for _, text in regimes], fontsize=8)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False, length=0)
    ax.set_xticks(np.arange(len(pairs) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(regimes) + 1) - 0.5, minor=True)
    ax.tick_params(which="minor", length=0)
    ax.grid(which="minor", color="white", linewidth=2.0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = sub.colorbar(ScalarMappable(norm, cmap), ax=ax, fraction=0.06, pad=0.03, aspect=18)
    bar.set_label("gold reward,\nIS variant − baseline\nat matched KL", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_xlabel("IS variant vs its baseline (no IS)", fontsize=8.5)
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("regime", fontsize=8.5)


def _regime_panel(ax, rows: pd.DataFrame, shown: list[dict], colors: dict, markers: dict, kl: str) -> None:
    """One regime's gold reward against KL: a line per method through its betas (mean over
    seeds, std bars faint), each starting at the SFT star (beta -> infinity)."""
    sft = rows[rows["method"] == SFT]
    start = (float(sft[kl].mean()), float(sft["gold_reward"].mean())) if len(sft) else None
    for k, m in enumerate(shown):
        own = rows[rows["method"] == m["name"]]
        if own.empty:
            continue
        c = colors[m["name"]]
        by_beta = own.groupby("beta")[[kl, "gold_reward"]].agg(["mean", "std"]).sort_index(ascending=False)
        xs, ys = by_beta[(kl, "mean")], by_beta[("gold_reward", "mean")]
        errorbars(ax, xs, ys, by_beta[(kl, "std")], by_beta[("gold_reward", "std")], color=c)
        line_x, line_y = ([start[0]], [start[1]]) if start else ([], [])
        ax.plot(line_x + list(xs), line_y + list(ys), color=c, linestyle=method_linestyle(m), linewidth=1.4, zorder=3)
        for beta, x, y in zip(by_beta.index, xs, ys):
            ax.plot(x, y, linestyle="none", marker=markers.get(float(beta), "o"), markersize=6.5, color=c,
                    markeredgecolor="white", markeredgewidth=0.6, zorder=4 + k, gid="point")
    if start:
        ax.plot(*start, linestyle="none", marker="*", markersize=12, color="black", markeredgecolor="white",
                markeredgewidth=0.6, zorder=40)


def _regime_map_facts(cells: pd.DataFrame, settings: dict, note: str) -> list[str]:
    """The title's second line: what a map cell averages, and over how many prompts."""
    seeds = cells.loc[cells["method"] != SFT, "seed"].nunique() if "seed" in cells else 1
    samples = sorted(set(cells["n_samples"].dropna().astype(int))) if "n_samples" in cells else []
    if note:
        facts = [f"Δ gold at matched KL from the summary's means ({note})"]
    elif seeds == 1:
        facts = ["Δ gold at matched KL: one seed, no interval"]
    else:
        facts = [f"Δ gold at matched KL: mean over {seeds} seeds [95% t-interval]"]
    prompts = settings.get("eval_prompts")
    if prompts:
        facts.append(f"{int(prompts)} held-out prompts" + (f" ({samples[0]} samples per policy)"
                                                           if len(samples) == 1 and samples[0] != prompts else ""))
    elif len(samples) == 1:
        facts.append(f"{samples[0]} held-out samples per policy")
    return facts


def regime_map(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Does importance sampling help or hurt, per regime, at matched KL
    (`isdaa.regime_map`)? Left (or top, with many regimes) the map: a row per regime, a
    column per IS variant, coloured by the mean over seeds of its gold reward minus its
    baseline's at the same KL (diverging, centred at 0), written with its t-interval;
    faded and hatched where the interval contains 0. Beside it a panel per regime of gold
    reward against KL for the variants and their baselines (beta by marker, SFT star)."""
    import textwrap

    from matplotlib.patches import Patch

    from isdaa.regime_map import matched_kl_table, regime_map_summary

    kl = settings.get("kl_estimator", "kl_k3")
    cells, note = _regime_cells(tables, kl)
    task = task_name(settings, cells)
    title = f"Does importance sampling help at matched KL? ({task})"
    present = set(cells["method"].astype(str)) if "method" in cells else set()
    pairs = [(v, b) for v, b in _regime_pairs(settings, cells) if v in present]
    if not pairs:
        fig = new_figure(7.0, 2.6)
        fig.suptitle(title, fontsize=11)
        return placeholder(fig, "No IS variant with its baseline in the cells table.")
    regimes = _regime_order(settings, cells)
    table = matched_kl_table(cells, pairs, kl)
    summary = regime_map_summary(table, regimes=[name for name, _ in regimes])
    every = all_methods(settings, cells)
    colors = method_colors(every)
    label = {m["name"]: m["label"] for m in every}
    in_pairs = {name for pair in pairs for name in pair}
    shown = [m for m in present_methods(every, cells) if m["name"] in in_pairs]
    markers = beta_markers(cells[cells["method"].isin(in_pairs)])

    # Size from the counts: the map's cells and labels, the panels beside or below it.
    n_r, n_v = len(regimes), len(pairs)
    map_w = n_v * MAP_CELL[0] + 2.6
    map_h = max(2.4, n_r * MAP_CELL[1] + 1.5)
    beside = n_r <= 2 and n_v <= 4
    ncols = n_r if beside else min(n_r, 3)
    nrows = math.ceil(n_r / ncols)
    panels_w = ncols * PANEL[0] + LEGEND_WIDTH + 0.6
    # The legend: a header and a row per method, beta and map key (about 0.17 in a row).
    legend_h = 0.17 * (len(shown) + len(markers) + 11) + 0.4
    panels_h = max(nrows * PANEL[1] + 0.8, 3.4 if beside else 0, legend_h)
    if beside:
        height = max(map_h, panels_h)
        fig = new_figure(map_w + panels_w, height + 0.7)
        map_fig, panel_fig = fig.subfigures(1, 2, width_ratios=[map_w, panels_w])
    else:
        fig = new_figure(max(map_w, panels_w), map_h + panels_h + 0.7)
        map_fig, panel_fig = fig.subfigures(2, 1, height_ratios=[map_h, panels_h])
    _draw_map(map_fig, summary, regimes, pairs, label)

    axes = panel_fig.subplots(nrows, ncols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n_r:]:
        ax.remove()
    for ax, (regime, text) in zip(flat, regimes):
        _regime_panel(ax, cells[cells["regime"] == regime], shown, colors, markers, kl)
        nest_coincident(ax)
        ax.set_title("\n".join(textwrap.wrap(text, 34)), fontsize=9)
        ax.grid(alpha=0.25, linewidth=0.6)
        ax.tick_params(labelsize=7.5)
    panel_fig.supxlabel(KL_LABELS[kl], fontsize=9)
    panel_fig.supylabel(GOLD_LABEL, fontsize=9)

    entries = ["Method"] + [(method_handle(m, colors[m["name"]]), m["label"]) for m in shown]
    entries += ["β (marker)"] + beta_handles(markers)
    if (cells["method"] == SFT).any():
        entries += ["Reference", (sft_handle(), "SFT policy")]
    entries += ["Map cell (Δ gold)",
                (Patch(facecolor=_map_color(0.15), edgecolor="none"), "IS hurts (interval < 0)"),
                (Patch(facecolor=_map_color(0.85), edgecolor="none"), "IS helps (interval > 0)"),
                (Patch(facecolor="#f0f0f0", hatch="////", edgecolor="0.72", linewidth=0),
                 "interval contains 0,\nor one seed (faded)")]
    add_legend(panel_fig, entries, loc="outside right upper", fontsize=7.5)

    facts = _regime_map_facts(cells, settings, note)
    fig.suptitle(f"{title}\n" + "; ".join(facts), fontsize=10.5)
    return fig


def _map_color(t: float) -> str:
    """The map's colormap at t in [0, 1] (0.5 is Δ = 0)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return to_hex(colormaps[MAP_CMAP](t))
