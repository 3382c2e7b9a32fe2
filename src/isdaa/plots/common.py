"""What every figure shares: the methods of a task in the config's order, their colours,
beta markers, axis labels, titles' seed notes, the figure canvas, the panel grid, error
bars, legends outside the data, and `save`. Matplotlib is imported only inside the
functions that draw (the Snakefile imports this package at every parse)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
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
BETA_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p", "d"]


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


def all_methods(settings: dict, *tables: pd.DataFrame) -> list[dict]:
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


def present_methods(methods: list[dict], *tables: pd.DataFrame) -> list[dict]:
    names = set()
    for table in tables:
        if "method" in table:
            names |= set(table["method"].astype(str))
    return [m for m in methods if m["name"] in names]


def method_colors(methods: list[dict]) -> dict[str, str]:
    """One colour per method (see `isdaa.plots`); depends on the whole list,
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


def method_linestyle(method: dict) -> str:
    return "--" if method.get("is_eps") is not None else "-"


def beta_markers(*tables: pd.DataFrame) -> dict[float, str]:
    betas = set()
    for table in tables:
        if "beta" in table and "method" in table:
            betas |= set(table.loc[table["method"] != SFT, "beta"].dropna().astype(float))
    return {b: BETA_MARKERS[i % len(BETA_MARKERS)] for i, b in enumerate(sorted(betas))}


def task_name(settings: dict, *tables: pd.DataFrame) -> str:
    if settings.get("task"):
        return str(settings["task"])
    names = set()
    for table in tables:
        if "task" in table:
            names |= set(table["task"].astype(str))
    return ", ".join(sorted(names)) or "?"


def seed_note(table: pd.DataFrame) -> str:
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


def beta_text(beta: float) -> str:
    return f"{beta:g}"


# ---------------------------------------------------------------------------- drawing helpers


def new_figure(width: float, height: float) -> "Figure":
    """A figure outside pyplot (no global state to leak), with an Agg canvas so that
    `fig.canvas.draw()` lays it out; constrained layout keeps text apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def panel_grid(fig, n: int, sharex=True, sharey=True):
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


def errorbars(ax, x, y, xerr=None, yerr=None, color="black", zorder=2) -> None:
    """Thin, faint error bars with small caps, under the points; nothing where std is NaN.
    An error is one row (±) or two (below, above: an interval's distances)."""
    def clean(err):
        if err is None:
            return None
        err = np.asarray(err, dtype=float)
        return None if np.isnan(err).all() else np.nan_to_num(err)

    xerr, yerr = clean(xerr), clean(yerr)
    if xerr is None and yerr is None:
        return
    ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor=color, elinewidth=0.9, alpha=0.45,
                capsize=1.5, capthick=0.9, zorder=zorder)


def add_legend(fig, entries, loc="outside right upper", ncols=1, fontsize=8, ax=None):
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


def method_handle(method: dict, color: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, linestyle=method_linestyle(method), linewidth=1.6, marker="o", markersize=5,
                  markerfacecolor=color, markeredgecolor="white")


def beta_handles(markers: dict) -> list:
    from matplotlib.lines import Line2D

    return [(Line2D([], [], linestyle="none", marker=mk, markersize=6, color="0.35", markeredgecolor="white"),
             beta_text(b)) for b, mk in markers.items()]


def sft_handle(line: bool = False):
    from matplotlib.lines import Line2D

    if line:
        return Line2D([], [], color="black", linestyle=(0, (4, 2)), linewidth=1.0)
    return Line2D([], [], linestyle="none", marker="*", markersize=11, color="black", markeredgecolor="white")


def placeholder(fig, text: str) -> "Figure":
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, wrap=True, transform=ax.transAxes)
    return fig


def nest_coincident(ax) -> None:
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

