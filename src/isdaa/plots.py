"""Figures, drawn from the result tables only (never from models).

`FIGURES` maps each figure's name to a function ``(tables, settings) -> Figure`` that
draws and returns the figure; `save` writes it (PDF, PNG, ... by extension) and closes
it. `tables` holds a task's "summary", "dynamics" and "train_logs" tables (as written
under results/<task>/tables/) and, for `regime_map`, its "cells" (per seed and regime);
`settings` is what `plot_settings` builds from the task's config (plus the config's
`plots` section and, for `regime_map`, "regimes" and "regime_pairs").

What every figure shares, so that one reads the others:
- a method keeps one colour everywhere: each DAA family one hue (DPO blue, IPO green,
  SLiC purple), its importance-sampled variants lighter shades of it (the looser the
  clip, the lighter) drawn dashed, the baselines (other modifiers) their own colours;
- beta is a marker shape (legend "β"), never a text label beside a point;
- the SFT policy (the reference) is a black star, or a black line where x is not KL;
- legends list methods in the config's order with the config's labels, and sit
  outside the axes;
- error bars are the standard deviation over seeds, drawn thin and faint under the
  points; titles say how many seeds each point averages.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd

from isdaa.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 200  # raster formats (PNG); vector formats ignore it
SFT = "sft"

KL_LABELS = {"kl_k3": "KL(policy ‖ SFT), k3 estimate", "kl_k1": "KL(policy ‖ SFT), k1 estimate"}
GOLD_LABEL = "gold reward (held-out mean)"
WIN_LABEL = "win rate vs the dataset's chosen response"
BETA_LABEL = "β (KL strength, log scale)"
EPS_LABEL = "clip ε (IS weights capped at exp(2ε))"

# Families whose hue is fixed, so that DPO is blue in every config; other DAAs get the
# next ramps in order of appearance. Baselines (any other modifier) get BASELINE_COLORS.
FAMILY_CMAPS = {"dpo": "Blues", "ipo": "Greens", "slic": "Purples"}
EXTRA_CMAPS = ["Reds", "YlOrBr", "Greys"]
BASELINE_COLORS = ["#d95f02", "#e7298a", "#a6761d", "#e6ab02", "#666666", "#1b9e77", "#b2182b", "#7f3b08"]
FAMILY_TITLES = {"baselines": "Baselines (other modifiers)", "other": "Methods"}
BETA_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p", "d"]
BETA_LINESTYLES = ["-", "--", ":", "-."]


# ---------------------------------------------------------------------------- settings


def plot_settings(task: dict, kl_estimator: str = "kl_k3") -> dict:
    """What the figures need of a resolved task config (`isdaa.config.task_config`):
    the KL estimate to plot, the task's name, its grid's methods in the config's order
    (name, legend label, DAA, family, is_eps) and the clip-ablation series."""
    from isdaa.config import eps_ablation, method_family

    methods = []
    for name in task["grid"]["methods"]:
        spec = task["methods"][name]
        methods.append({"name": name, "label": spec.get("label", name), "daa": spec["daa"],
                        "family": method_family(spec), "is_eps": spec.get("is_eps")})
    return {"kl_estimator": kl_estimator, "task": task["name"], "methods": methods, "eps": eps_ablation(task)}


def _methods(settings: dict, *tables: pd.DataFrame) -> list[dict]:
    """The settings' methods, then any method of the tables they lack (its raw name as
    label, family "other"), without SFT: the order of every legend."""
    methods = [dict(m) for m in settings.get("methods") or []]
    known = {m["name"] for m in methods}
    for table in tables:
        if "method" not in table:
            continue
        for name in dict.fromkeys(table["method"].astype(str)):
            if name != SFT and name not in known:
                methods.append({"name": name, "label": name, "daa": None, "family": "other", "is_eps": None})
                known.add(name)
    return methods


def _present(methods: list[dict], *tables: pd.DataFrame) -> list[dict]:
    names = set()
    for table in tables:
        if "method" in table:
            names |= set(table["method"].astype(str))
    return [m for m in methods if m["name"] in names]


def method_colors(methods: list[dict]) -> dict[str, str]:
    """One colour per method (see the module's docstring); depends on the whole list,
    so give it every method of the task, not one figure's."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmaps, colors, used = dict(FAMILY_CMAPS), {}, {}
    extra = iter(EXTRA_CMAPS)
    baselines = other = 0
    for m in methods:
        family = m["family"]
        if family == "baselines":
            colors[m["name"]] = BASELINE_COLORS[baselines % len(BASELINE_COLORS)]
            baselines += 1
        elif family == "other":
            colors[m["name"]] = f"C{other % 10}"
            other += 1
        else:
            if family not in cmaps:
                cmaps[family] = next(extra, "Greys")
            eps = m.get("is_eps")
            # Plain DAA darkest; IS variants lighter as the clip loosens (eps = 1 at 0.58).
            t = 0.95 if eps is None else min(0.8, max(0.35, 0.58 - 0.1 * math.log2(float(eps))))
            taken = used.setdefault(family, [])
            for _ in range(8):  # two members with one shade (a second plain DPO): the next free one
                if all(abs(t - u) >= 0.05 for u in taken):
                    break
                t = t - 0.1 if t - 0.1 >= 0.3 else t + 0.37
            taken.append(t)
            colors[m["name"]] = to_hex(colormaps[cmaps[family]](t))
    return colors


def _linestyle(method: dict) -> str:
    return "--" if method.get("is_eps") is not None else "-"


def _beta_markers(*tables: pd.DataFrame) -> dict[float, str]:
    betas = set()
    for table in tables:
        if "beta" in table and "method" in table:
            betas |= set(table.loc[table["method"] != SFT, "beta"].dropna().astype(float))
    return {b: BETA_MARKERS[i % len(BETA_MARKERS)] for i, b in enumerate(sorted(betas))}


def _task_name(settings: dict, *tables: pd.DataFrame) -> str:
    if settings.get("task"):
        return str(settings["task"])
    names = set()
    for table in tables:
        if "task" in table:
            names |= set(table["task"].astype(str))
    return ", ".join(sorted(names)) or "?"


def _seed_note(table: pd.DataFrame) -> str:
    """How many seeds a point averages, as the title says it."""
    rows = table[table["method"] != SFT] if "method" in table else table
    if "n_seeds" not in rows or rows.empty:
        return "mean ± std over seeds"
    n = sorted(set(rows["n_seeds"].dropna().astype(int)))
    if n == [1]:
        return "one seed per point (no error bars)"
    if len(n) == 1:
        return f"mean ± std over {n[0]} seeds"
    return f"mean ± std over {n[0]}–{n[-1]} seeds per point"


def _beta_text(beta: float) -> str:
    return f"{beta:g}"


# ---------------------------------------------------------------------------- drawing helpers


def _figure(width: float, height: float) -> "Figure":
    """A figure outside pyplot (no global state to leak), with an Agg canvas so that
    `fig.canvas.draw()` lays it out; constrained layout keeps text apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(fig, n: int, sharex=True, sharey=True):
    """n panels in a near-square grid: (the axes in reading order, the number of
    columns, the first unused slot as an empty axes for the legend, or None)."""
    ncols = {1: 1, 2: 2, 3: 3, 4: 2}.get(n, 3)
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
    flat = list(axes.flat)
    spare = flat[n] if len(flat) > n else None
    for ax in flat[n + 1:]:
        ax.remove()
    if spare is not None:
        spare.set_axis_off()
    used = flat[:n]
    for i, ax in enumerate(used):
        below = i + ncols < n
        ax.tick_params(labelbottom=not below)
        ax.grid(alpha=0.25, linewidth=0.6)
    return used, ncols, spare


def _errorbars(ax, x, y, xerr=None, yerr=None, color="black", zorder=2) -> None:
    """Thin, faint error bars with small caps, under the points; nothing where std is NaN."""
    def clean(err):
        if err is None:
            return None
        err = pd.Series(err).astype(float)
        return None if err.isna().all() else err.fillna(0).to_numpy()

    xerr, yerr = clean(xerr), clean(yerr)
    if xerr is None and yerr is None:
        return
    ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor=color, elinewidth=0.9, alpha=0.45,
                capsize=1.5, capthick=0.9, zorder=zorder)


def _legend(fig, entries, loc="outside right upper", ncols=1, fontsize=8, ax=None):
    """One legend outside the data: on the figure's right, or filling `ax` (an empty
    slot of the grid). `entries`: (handle, label) or a header string (bold)."""
    from matplotlib.lines import Line2D

    handles, labels, headers = [], [], []
    for entry in entries:
        if isinstance(entry, str):
            headers.append(len(labels))
            handles.append(Line2D([], [], linestyle="none"))
            labels.append(entry)
        else:
            handles.append(entry[0])
            labels.append(entry[1])
    if ax is not None:
        legend = ax.legend(handles, labels, loc="center", ncols=ncols, fontsize=fontsize, frameon=False,
                           handlelength=2.2, borderaxespad=0.0)
    else:
        legend = fig.legend(handles, labels, loc=loc, ncols=ncols, fontsize=fontsize, frameon=False,
                            handlelength=2.2, borderaxespad=0.3)
    for i in headers:
        legend.get_texts()[i].set_fontweight("bold")
    return legend


def _method_handle(method: dict, color: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, linestyle=_linestyle(method), linewidth=1.6, marker="o", markersize=5,
                  markerfacecolor=color, markeredgecolor="white")


def _beta_handles(markers: dict) -> list:
    from matplotlib.lines import Line2D

    return [(Line2D([], [], linestyle="none", marker=mk, markersize=6, color="0.35", markeredgecolor="white"),
             _beta_text(b)) for b, mk in markers.items()]


def _sft_handle(line: bool = False):
    from matplotlib.lines import Line2D

    if line:
        return Line2D([], [], color="black", linestyle=(0, (4, 2)), linewidth=1.0)
    return Line2D([], [], linestyle="none", marker="*", markersize=11, color="black", markeredgecolor="white")


def _placeholder(fig, text: str) -> "Figure":
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, wrap=True, transform=ax.transAxes)
    return fig


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


POINT_SIZE = 7.5  # markersize of a method's point


def _nest_coincident(ax) -> None:
    """Points of different methods on the same spot (RPO, R-DPO and DPO at beta 1)
    become concentric: each later one shrinks inside the earlier, none hidden. Points
    are the axes' one-point lines tagged "point", in drawing order."""
    import numpy as np

    ax.autoscale_view()
    scale = ax.figure.dpi / 72  # points to pixels
    placed: list[tuple[np.ndarray, float, str]] = []
    for line in ax.get_lines():
        if line.get_gid() != "point":
            continue
        at = ax.transData.transform((line.get_xdata()[0], line.get_ydata()[0]))
        size = line.get_markersize()
        for where, other, color in placed:
            if color != line.get_markerfacecolor() and np.hypot(*(at - where)) < 0.5 * other * scale:
                size = min(size, max(3.0, other - 2.5))
        line.set_markersize(size)
        placed.append((at, size, line.get_markerfacecolor()))


def _small_multiples(summary: pd.DataFrame, settings: dict, suptitle: str, xlabel: str, ylabel: str,
                     draw, panel_height: float = 2.6):
    """A figure of one panel per `_panels` group, axes shared, labels on the figure,
    the legend outside on the right; `draw(ax, method, rows, k, n, faint)` draws one
    method's series (rows sorted by beta), the k-th of the panel's n."""
    every = _methods(settings, summary)
    colors = method_colors(every)
    methods = _present(every, summary)
    panels = _panels(methods, every)
    if not panels:
        fig = _figure(6.4, 3.0)
        fig.suptitle(suptitle, fontsize=11)
        return _placeholder(fig, "No trained method in the summary table."), [], colors, methods, None
    ncols = {1: 1, 2: 2, 3: 3, 4: 2}.get(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    spare = nrows * ncols > len(panels)
    fig = _figure(3.0 * ncols + (0 if spare else 2.1), panel_height * nrows + 0.9)
    axes, ncols, spare = _grid(fig, len(panels))
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


# ---------------------------------------------------------------------------- figures


def kl_tradeoff(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Gold reward against KL from SFT, one panel per DAA family (the DAA beside its IS
    variant; a clip ablation in a panel of its own) and one of the baselines (plain DPO
    faint behind them), axes shared; a line per method through its betas, beta by
    marker shape; the SFT policy is the star in every panel."""
    summary = tables["summary"]
    kl = settings.get("kl_estimator", "kl_k3")
    x, y = f"{kl}_mean", "gold_reward_mean"
    markers = _beta_markers(summary)
    sft = summary[summary["method"] == SFT]
    colors = method_colors(_methods(settings, summary))

    def draw(ax, m, rows, k, n, faint):
        c = colors[m["name"]]
        alpha = 0.3 if faint else 1.0
        if not faint:
            _errorbars(ax, rows[x], rows[y], rows.get(f"{kl}_std"), rows.get("gold_reward_std"), color=c)
        ax.plot(rows[x], rows[y], color=c, linestyle=_linestyle(m), linewidth=1.5, alpha=alpha, zorder=3)
        for _, row in rows.iterrows():
            ax.plot(row[x], row[y], linestyle="none", marker=markers.get(float(row["beta"]), "o"),
                    markersize=10.5 if faint else POINT_SIZE, color=c, markeredgecolor="white",
                    markeredgewidth=0.7, alpha=alpha, zorder=4 + k, gid=None if faint else "point")
        if k == n - 1 and len(sft):
            ax.plot(sft[x], sft[y], linestyle="none", marker="*", markersize=13, color="black",
                    markeredgecolor="white", markeredgewidth=0.6, zorder=20)

    suptitle = f"Gold reward vs KL from the SFT policy ({_task_name(settings, summary)})\n{_seed_note(summary)}"
    fig, axes, colors, methods, spare = _small_multiples(summary, settings, suptitle, KL_LABELS[kl], GOLD_LABEL,
                                                         draw)
    if axes:
        for ax in axes:
            _nest_coincident(ax)
        entries = ["Method"] + [(_method_handle(m, colors[m["name"]]), m["label"]) for m in methods]
        entries += ["β (marker)"] + _beta_handles(markers)
        if len(sft):
            entries += ["Reference", (_sft_handle(), "SFT policy")]
        _legend(fig, entries, ax=spare, ncols=2 if spare is not None and len(entries) > 12 else 1)
    return fig


def _metric_vs_beta(tables: dict[str, pd.DataFrame], settings: dict, metric: str) -> "Figure":
    summary = tables["summary"]
    ylabel = {"gold_reward": GOLD_LABEL, "win_rate": WIN_LABEL}[metric]
    name = {"gold_reward": "Gold reward", "win_rate": "Win rate"}[metric]
    markers = _beta_markers(summary)
    betas = sorted(markers)
    sft = summary[summary["method"] == SFT]
    col, err = f"{metric}_mean", f"{metric}_std"
    colors = method_colors(_methods(settings, summary))

    def draw(ax, m, rows, k, n, faint):
        c = colors[m["name"]]
        # Dodge: the k-th of a panel's n series shifts by a small factor on the log axis.
        shift = 10 ** (0.06 * (k - (n - 1) / 2))
        bx = rows["beta"].astype(float)
        if not faint:
            _errorbars(ax, bx * shift, rows[col], None, rows.get(err), color=c)
        alpha = 0.3 if faint else 1.0
        ax.plot(bx * shift, rows[col], color=c, linestyle=_linestyle(m), linewidth=1.5, alpha=alpha, zorder=3)
        for b, v in zip(bx, rows[col]):
            ax.plot(b * shift, v, linestyle="none", marker=markers.get(float(b), "o"), markersize=6.5, color=c,
                    markeredgecolor="white", markeredgewidth=0.7, alpha=alpha, zorder=4 + k)
        if k == n - 1 and len(sft):
            ax.axhline(sft[col].mean(), color="black", linestyle=(0, (4, 2)), linewidth=1.0, zorder=1)

    suptitle = f"{name} of the final policy vs β ({_task_name(settings, summary)})\n{_seed_note(summary)}"
    fig, axes, colors, methods, spare = _small_multiples(summary, settings, suptitle, BETA_LABEL, ylabel, draw,
                                                         panel_height=2.4)
    if axes:
        for ax in axes:
            ax.set_xscale("log")
        if betas:
            axes[0].set_xlim(betas[0] / 10 ** 0.35, betas[-1] * 10 ** 0.35)
            axes[0].set_xticks(betas, [_beta_text(b) for b in betas])
        for ax in axes:
            ax.minorticks_off()
        entries = ["Method"] + [(_method_handle(m, colors[m["name"]]), m["label"]) for m in methods]
        if len(sft):
            entries += ["Reference", (_sft_handle(line=True), "SFT policy")]
        _legend(fig, entries, ax=spare, ncols=2 if spare is not None and len(entries) > 12 else 1)
    return fig


def gold_vs_beta(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Gold reward of the final policy against beta (log axis), panels as in
    `kl_tradeoff`, the methods of a panel dodged sideways around each beta; the SFT
    policy is the dashed line."""
    return _metric_vs_beta(tables, settings, "gold_reward")


def winrate_vs_beta(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """Win rate against the dataset's chosen response, laid out as `gold_vs_beta`."""
    return _metric_vs_beta(tables, settings, "win_rate")


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
    task = _task_name(settings, dynamics, summary)
    runs = dynamics[dynamics["method"] != SFT] if "method" in dynamics else dynamics
    if runs.empty:
        fig = _figure(7.0, 2.6)
        fig.suptitle(f"Training dynamics ({task})", fontsize=11)
        return _placeholder(fig, "No dynamics cells: select cells under `dynamics` in the config\n"
                                 "(methods, betas, seeds) to draw this figure.")
    every = _methods(settings, summary, dynamics)
    colors = method_colors(every)
    markers = _beta_markers(summary, dynamics)
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

    fig = _figure(12.0, 7.2)
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
        ls = styles[beta] if len(betas) > 1 else _linestyle(next((m for m in every if m["name"] == method), {}))
        c, mk = colors.get(method, "0.3"), markers.get(beta, "o")
        epochs = by_epoch.index.to_numpy(dtype=float)
        epochs_seen |= set(epochs)
        for ax, column in ((gold_ax, "gold_reward"), (kl_ax, kl)):
            _errorbars(ax, epochs, by_epoch[(column, "mean")], None, by_epoch[(column, "std")], color=c)
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
                               markeredgecolor="white"), f"{label.get(method, method)}, β = {_beta_text(beta)}"))
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
        entries += [(_sft_handle(), "SFT policy (epoch 0)")]
    _legend(fig, entries, loc="outside right upper")
    fig.suptitle(f"Training dynamics ({task}; {note})", fontsize=11)
    return fig


def is_eps_ablation(tables: dict[str, pd.DataFrame], settings: dict) -> "Figure":
    """IS-DPO over its clip eps, one column per beta: gold reward (top) and KL (bottom)
    against eps, one x position per eps, each point in its method's colour; plain DPO
    at that beta is the dashed line, the SFT policy the dotted one (its KL is 0)."""
    summary = tables["summary"]
    kl = settings.get("kl_estimator", "kl_k3")
    eps = settings.get("eps") or {}
    every = _methods(settings, summary)
    colors = method_colors(every)
    label = {m["name"]: m["label"] for m in every}
    markers = _beta_markers(summary)
    task = _task_name(settings, summary)
    rows = summary[summary["method"].isin(list(eps))].assign(eps=lambda d: d["method"].map(eps))
    with_is = rows[rows["eps"].notna()].assign(eps=lambda d: d["eps"].astype(float))
    note = _seed_note(with_is if len(with_is) else summary)
    if with_is.empty:
        fig = _figure(7.0, 2.6)
        fig.suptitle(f"Importance-sampling clip ablation ({task})", fontsize=11)
        return _placeholder(fig, "No IS-DPO method (DAA dpo with is_eps only) in the grid.")
    all_eps = sorted(with_is["eps"].unique())
    position = {e: i for i, e in enumerate(all_eps)}
    per_beta = with_is.groupby("beta")["eps"].nunique()
    betas = sorted(float(b) for b in (per_beta[per_beta >= 2].index if (per_beta >= 2).any() else per_beta.index))
    base = rows[rows["eps"].isna()]
    sft = summary[summary["method"] == SFT]
    fig = _figure(2.8 * len(betas) + 2.4, 5.6)
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
            _errorbars(ax, xs, group[f"{column}_mean"], None, group.get(f"{column}_std"), color="0.3")
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
                ax.set_title(f"β = {_beta_text(beta)}", fontsize=10)
            if j == 0:
                ax.set_ylabel(GOLD_LABEL if column == "gold_reward" else KL_LABELS[kl])
        axes[1, j].set_xlabel(EPS_LABEL)
        axes[1, j].set_xticks(range(len(all_eps)), [f"{e:g}" for e in all_eps])
        axes[1, j].set_xlim(-0.5, len(all_eps) - 0.5)
    from matplotlib.lines import Line2D

    ablation = [m for m in every if m["name"] in set(with_is["method"])]
    entries = ["IS-DPO (points)"] + [(Line2D([], [], linestyle="none", marker="o", markersize=7,
                                             color=colors.get(m["name"], "0.3"), markeredgecolor="black",
                                             markeredgewidth=0.5), label[m["name"]]) for m in ablation]
    entries += ["β (marker)"] + _beta_handles({b: markers.get(b, "o") for b in betas})
    entries += ["Reference"]
    if baseline is not None and len(base):
        entries.append((Line2D([], [], color=colors.get(baseline, "black"), linestyle=(0, (5, 2)), linewidth=1.4),
                        f"{label.get(baseline, baseline)} (no IS), same β"
                        + (" ± std" if base[f"{kl}_std"].notna().any() else "")))
    if len(sft):
        entries.append((Line2D([], [], color="black", linestyle=":", linewidth=1.2), "SFT policy (KL 0)"))
    _legend(fig, entries)
    fig.suptitle(f"Importance-sampling clip ablation ({task})\n{note}", fontsize=11)
    return fig


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
        _errorbars(ax, xs, ys, by_beta[(kl, "std")], by_beta[("gold_reward", "std")], color=c)
        line_x, line_y = ([start[0]], [start[1]]) if start else ([], [])
        ax.plot(line_x + list(xs), line_y + list(ys), color=c, linestyle=_linestyle(m), linewidth=1.4, zorder=3)
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
    task = _task_name(settings, cells)
    title = f"Does importance sampling help at matched KL? ({task})"
    present = set(cells["method"].astype(str)) if "method" in cells else set()
    pairs = [(v, b) for v, b in _regime_pairs(settings, cells) if v in present]
    if not pairs:
        fig = _figure(7.0, 2.6)
        fig.suptitle(title, fontsize=11)
        return _placeholder(fig, "No IS variant with its baseline in the cells table.")
    regimes = _regime_order(settings, cells)
    table = matched_kl_table(cells, pairs, kl)
    summary = regime_map_summary(table, regimes=[name for name, _ in regimes])
    every = _methods(settings, cells)
    colors = method_colors(every)
    label = {m["name"]: m["label"] for m in every}
    in_pairs = {name for pair in pairs for name in pair}
    shown = [m for m in _present(every, cells) if m["name"] in in_pairs]
    markers = _beta_markers(cells[cells["method"].isin(in_pairs)])

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
        fig = _figure(map_w + panels_w, height + 0.7)
        map_fig, panel_fig = fig.subfigures(1, 2, width_ratios=[map_w, panels_w])
    else:
        fig = _figure(max(map_w, panels_w), map_h + panels_h + 0.7)
        map_fig, panel_fig = fig.subfigures(2, 1, height_ratios=[map_h, panels_h])
    _draw_map(map_fig, summary, regimes, pairs, label)

    axes = panel_fig.subplots(nrows, ncols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n_r:]:
        ax.remove()
    for ax, (regime, text) in zip(flat, regimes):
        _regime_panel(ax, cells[cells["regime"] == regime], shown, colors, markers, kl)
        _nest_coincident(ax)
        ax.set_title("\n".join(textwrap.wrap(text, 34)), fontsize=9)
        ax.grid(alpha=0.25, linewidth=0.6)
        ax.tick_params(labelsize=7.5)
    panel_fig.supxlabel(KL_LABELS[kl], fontsize=9)
    panel_fig.supylabel(GOLD_LABEL, fontsize=9)

    entries = ["Method"] + [(_method_handle(m, colors[m["name"]]), m["label"]) for m in shown]
    entries += ["β (marker)"] + _beta_handles(markers)
    if (cells["method"] == SFT).any():
        entries += ["Reference", (_sft_handle(), "SFT policy")]
    entries += ["Map cell (Δ gold)",
                (Patch(facecolor=_map_color(0.15), edgecolor="none"), "IS hurts (interval < 0)"),
                (Patch(facecolor=_map_color(0.85), edgecolor="none"), "IS helps (interval > 0)"),
                (Patch(facecolor="#f0f0f0", hatch="////", edgecolor="0.72", linewidth=0),
                 "interval contains 0,\nor one seed (faded)")]
    _legend(panel_fig, entries, loc="outside right upper", fontsize=7.5)

    facts = _regime_map_facts(cells, settings, note)
    fig.suptitle(f"{title}\n" + "; ".join(facts), fontsize=10.5)
    return fig


def _map_color(t: float) -> str:
    """The map's colormap at t in [0, 1] (0.5 is Δ = 0)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return to_hex(colormaps[MAP_CMAP](t))


def save(fig: "Figure", paths) -> None:
    """Write `fig` to each path (format from its extension; raster at DPI), each
    atomically, then close it."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    try:
        for path in paths:
            fmt = Path(path).suffix.lstrip(".").lower()
            if not fmt:
                raise ValueError(f"{path}: no extension to pick the figure's format from")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close(fig)


# Every figure of a task: name -> function(tables, settings) -> Figure. `tables` holds the
# task's "summary", "dynamics", "train_logs" and "cells" tables; `settings` is `plot_settings`'s
# dict (plus "regimes", "regime_pairs" and "eval_prompts" where known).
FIGURES: dict[str, Callable[[dict[str, pd.DataFrame], dict], "Figure"]] = {
    "kl_tradeoff": kl_tradeoff,
    "gold_vs_beta": gold_vs_beta,
    "winrate_vs_beta": winrate_vs_beta,
    "training_dynamics": training_dynamics,
    "is_eps_ablation": is_eps_ablation,
    "regime_map": regime_map,
}
