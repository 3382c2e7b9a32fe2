"""LLM-judge benchmark scores (AlpacaEval, Arena-Hard, MT-Bench) of a task's policies
against beta, from results/<task>/tables/benchmarks.csv (one row per policy, benchmark
and metric; `primary` marks each benchmark's headline metric, the one drawn). Not in
`FIGURES`: its own rule draws it from that table."""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

import pandas as pd

from isdaa.layout import DEFAULT_REGIME
from isdaa.plots.common import (
    BETA_LABEL,
    SFT,
    add_legend,
    all_methods,
    beta_text,
    errorbars,
    method_colors,
    method_handle,
    method_linestyle,
    new_figure,
    panel_grid,
    placeholder,
    present_methods,
    sft_handle,
    task_name,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# A benchmark's panel title ({version} filled in) and its metrics' words (its primary
# first), in panel order; a benchmark not listed gets its raw name, version and metric.
BENCHMARKS = {
    "alpaca_eval": ("AlpacaEval {version}", {"lc_win_rate": "LC win rate, %", "win_rate": "win rate, %"}),
    "arena_hard": ("Arena-Hard {version}", {"win_rate": "win rate vs baseline, %"}),
    "mt_bench": ("MT-Bench", {"overall": "1–10", "turn_1": "turn 1, 1–10", "turn_2": "turn 2, 1–10"}),
}
INTERVAL = "90% interval"  # of every score in the table
FAILED = "#b2182b"  # the colour of a panel's failure count
NOTE_LINE = 9.0  # points per line of a panel's note


def _primary(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each benchmark's headline metric, the version as text (a CSV may read
    the flag as text and a version as a number)."""
    rows = table[table["primary"].astype(str).str.lower().isin(("true", "1", "1.0"))]
    return rows.assign(version=rows["version"].fillna("").astype(str))


def _one_regime(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of one regime (the default one, else the first), so that a point never
    averages two regimes; and what the title says when others were left out."""
    regimes = list(dict.fromkeys(rows["regime"])) if "regime" in rows else []
    if len(regimes) < 2:
        return rows, ""
    kept = DEFAULT_REGIME if DEFAULT_REGIME in regimes else regimes[0]
    return rows[rows["regime"] == kept], f"; regime {kept} only (of {len(regimes)})"


def _title(benchmark: str, version: str, metrics: pd.Series) -> str:
    """`metrics`: the panel's rows' (empty where nothing of a policy could be scored)."""
    template, words = BENCHMARKS.get(benchmark, (f"{benchmark} {{version}}", {}))
    metric = next(iter(metrics.dropna().astype(str)), next(iter(words), "no score"))
    return f"{template.format(version=version).strip()} ({words.get(metric, metric)})"


def _panels(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(benchmark, version) of each panel: the known benchmarks in BENCHMARKS' order, then
    the others; versions in the table's order."""
    keys = list(dict.fromkeys(zip(rows["benchmark"].astype(str), rows["version"])))
    known = list(BENCHMARKS)
    return sorted(keys, key=lambda k: known.index(k[0]) if k[0] in known else len(known))


def _points(rows: pd.DataFrame) -> pd.DataFrame:
    """One point per (method, beta): the mean score over seeds, their std and count, and
    the mean interval bounds."""
    by = rows.groupby(["method", "beta"])
    return pd.DataFrame({"score": by["score"].mean(), "std": by["score"].std(), "seeds": by["score"].count(),
                         "low": by["interval_low"].mean(), "high": by["interval_high"].mean()}).reset_index()


def _bars_note(points: pd.DataFrame) -> tuple[bool, str]:
    """Whether bars show the std over seeds (several seeds somewhere) or each score's
    interval (one seed everywhere), and the title's line that says which."""
    seeds = sorted(set(points["seeds"].astype(int)))
    if not seeds:
        return False, "no trained policy in the table"
    if seeds[-1] > 1:
        count = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
        return True, f"points: mean over {count} seeds, bars: ± std over seeds"
    if points[["low", "high"]].notna().any(axis=None):
        return False, f"one seed per point; bars: the judge's {INTERVAL} of its score"
    return False, "one seed per point (no interval)"


def _panel_note(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(text, colour) of the lines above a panel: the judge and the questions judged per
    policy; the failures, when any, flagged (a policy with nothing scored has a row
    without a score that counts them)."""
    judges = ", ".join(str(j) for j in dict.fromkeys(rows["judge_model"].dropna()))
    n = sorted(set(rows["n"].dropna().astype(int)))
    count = "" if not n else f"{n[0]}" if len(n) == 1 else f"{n[0]}–{n[-1]}"
    questions = f"{count} questions judged" if count else ""
    text = "; ".join(part for part in (f"judge: {judges}" if judges else "", questions) if part)
    lines = [(line, "0.35") for line in textwrap.wrap(text, 48)]
    failed = rows[rows["failures"].fillna(0) > 0]
    if len(failed):
        policies = rows[["method", "beta", "seed"]].drop_duplicates()
        lines.append((f"{int(failed['failures'].sum())} failed (not scored) in {len(failed)} of "
                      f"{len(policies)} policies", FAILED))
    return lines


def _draw_panel(ax, points: pd.DataFrame, sft: pd.DataFrame, shown: list[dict], colors: dict,
                with_std: bool) -> bool:
    """A line per method through its betas, bars as `_bars_note` says; the SFT policy a
    dashed line with its interval as a band. Whether a band was drawn. Methods are dodged
    apart around each beta, each by its own shift in every panel."""
    step = min(0.06, 0.24 / max(len(shown) - 1, 1))  # decades between dodged methods
    for k, m in enumerate(shown):
        own = points[points["method"] == m["name"]].sort_values("beta")
        if own.empty:
            continue
        x = own["beta"].astype(float) * 10 ** (step * (k - (len(shown) - 1) / 2))
        c = colors[m["name"]]
        bars = own["std"] if with_std else [own["score"] - own["low"], own["high"] - own["score"]]
        errorbars(ax, x, own["score"], yerr=bars, color=c)
        ax.plot(x, own["score"], color=c, linestyle=method_linestyle(m), linewidth=1.5, marker="o", markersize=5.5,
                markeredgecolor="white", markeredgewidth=0.7, zorder=4 + k)
    if sft.empty:
        return False
    ax.axhline(sft["score"].mean(), color="black", linestyle=(0, (4, 2)), linewidth=1.0, zorder=2)
    low, high = sft["interval_low"].mean(), sft["interval_high"].mean()
    if pd.notna(low) and pd.notna(high):
        ax.axhspan(low, high, color="0.5", alpha=0.15, linewidth=0, zorder=1)
        return True
    return False


def _title_and_note(ax, title: str, lines: list[tuple[str, str]]) -> None:
    """The panel's title, and its note in small lines between the title and the data."""
    for i, (text, color) in enumerate(lines):
        ax.annotate(text, (0.5, 1.0), xycoords="axes fraction", xytext=(0, 3 + NOTE_LINE * (len(lines) - 1 - i)),
                    textcoords="offset points", ha="center", va="bottom", fontsize=7, color=color)
    ax.set_title(title, fontsize=9.5, pad=5 + NOTE_LINE * len(lines))


def benchmark_scores(table: pd.DataFrame, settings: dict) -> "Figure":
    """One panel per benchmark (its primary metric; each version its own): the score
    against beta (log axis), a line per method (mean over seeds, in its colour of every
    figure), the SFT policy as a dashed line with its interval as a band; a note per panel
    names the judge, the questions judged and any failures. Bars are the std over seeds,
    or with one seed each score's interval: the title says which."""
    rows = _primary(table) if len(table) else table
    task = task_name(settings, table)
    suptitle = f"LLM-judge benchmarks of the final policies ({task})"
    rows, regime = _one_regime(rows)
    if rows.empty:
        fig = new_figure(6.4, 3.0)
        fig.suptitle(suptitle, fontsize=11)
        return placeholder(fig, "No benchmark scores (no primary metric) in the table.")
    every = all_methods(settings, rows)
    colors = method_colors(every)
    shown = present_methods(every, rows)
    scored = rows.dropna(subset=["score"])
    trained = scored[scored["method"] != SFT].dropna(subset=["beta"])
    panels = _panels(rows)
    points = {key: _points(trained[(trained["benchmark"] == key[0]) & (trained["version"] == key[1])])
              for key in panels}
    with_std, bars = _bars_note(pd.concat(points.values()))
    ncols = {1: 1, 2: 2, 3: 3, 4: 2}.get(len(panels), 3)  # as `panel_grid` lays them out
    nrows = math.ceil(len(panels) / ncols)
    spare = nrows * ncols > len(panels)
    fig = new_figure(max(7.0, 3.4 * ncols + (0 if spare else 2.2)), 3.2 * nrows + 1.0)  # 7 in: the title
    axes, _, spare = panel_grid(fig, len(panels), sharey=False)
    band = False
    for ax, key in zip(axes, panels):
        own = rows[(rows["benchmark"] == key[0]) & (rows["version"] == key[1])]
        sft = own[(own["method"] == SFT) & own["score"].notna()]
        band |= _draw_panel(ax, points[key], sft, shown, colors, with_std)
        _title_and_note(ax, _title(key[0], key[1], own["metric"]), _panel_note(own))
        ax.set_xscale("log")
        ax.tick_params(labelsize=8)
    betas = sorted(trained["beta"].astype(float).unique())
    if betas:
        axes[0].set_xlim(betas[0] / 10 ** 0.35, betas[-1] * 10 ** 0.35)
    axes[0].set_xticks(betas, [beta_text(b) for b in betas])  # none: the SFT policy only
    for ax in axes:
        ax.minorticks_off()
    entries = (["Method"] if shown else []) + [(method_handle(m, colors[m["name"]]), m["label"]) for m in shown]
    if (rows["method"] == SFT).any():
        entries += ["Reference", (sft_handle(line=True), "SFT policy")]
        if band:
            from matplotlib.patches import Patch

            entries.append((Patch(facecolor="0.5", alpha=0.15, linewidth=0), f"SFT {INTERVAL}"))
    add_legend(fig, entries, ax=spare)
    fig.supxlabel(BETA_LABEL, fontsize=10)
    fig.suptitle(f"{suptitle}\n{bars}{regime}", fontsize=11)
    return fig
