"""Does importance sampling help or hurt, regime by regime, at matched KL?

Definition. A *variant* is a loss with importance sampling (`is_eps`), its *baseline*
the same loss without it. In a regime R and a seed s, the baseline's curve is gold reward
against KL through the baseline's cells of (R, s) and R's SFT row (the reference policy,
KL 0, where every curve starts as beta -> infinity), sorted by KL; cells at one KL are
averaged into one point. Each cell of the variant in (R, s) is compared with that curve
at its own KL, interpolated piecewise linearly:

    delta = gold_reward(variant cell) - baseline_gold(KL of the cell).

A cell whose KL lies outside the curve's KL range (no extrapolation), or whose (R, s) has
no baseline cell, is not `in_range` and has no delta. Per (R, variant, baseline), each
seed's in-range deltas are averaged; the mean over those per-seed means and its Student-t
interval (n_seeds - 1 degrees of freedom) give the verdict: "helps" if the interval lies
above 0, "hurts" if below, "no difference" if it contains 0 (a degenerate [0, 0], as for
two identical methods, contains 0), "one seed" when there is no interval, "no overlap"
when no cell is in range.

A cell out of range is `dominated` when a baseline cell of its regime and seed reached at
least its gold reward at no more KL: excluding it hides no win (`n_dominated` counts
them per group). Response length is compared the same way (`length_delta`: the cell's mean length minus
the baseline's interpolated at the same KL), to tell whether IS drifts to longer
responses than its baseline at the same distance from the reference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from isdaa.layout import DEFAULT_REGIME
from isdaa.layout import SFT_RUN as SFT

TABLE_COLUMNS = ["regime", "method", "baseline", "beta", "seed", "kl", "gold_reward", "baseline_gold", "delta",
                 "in_range", "dominated", "mean_length", "baseline_length", "length_delta"]
SUMMARY_COLUMNS = ["regime", "method", "baseline", "n_seeds", "n_cells", "n_in_range", "delta_mean", "ci_low",
                   "ci_high", "verdict", "n_dominated", "length_delta_mean"]


def with_regime(cells: pd.DataFrame) -> pd.DataFrame:
    """`cells` with a string `regime` column: "default" for every row when it has none."""
    if "regime" not in cells:
        return cells.assign(regime=DEFAULT_REGIME)
    return cells.assign(regime=cells["regime"].fillna(DEFAULT_REGIME).astype(str))


def default_pairs(methods: dict, grid_methods: list) -> list[tuple[str, str]]:
    """(variant, baseline) for each grid method with an `is_eps`: the first grid method
    whose spec equals the variant's once `label` and every `is_*` key are dropped (so the
    DAA, its other modifiers and its `training` overrides must match). Variants without
    such a baseline are left out."""
    def core(spec: dict) -> dict:
        return {k: v for k, v in spec.items() if k != "label" and not k.startswith("is_")}

    pairs = []
    for name in grid_methods:
        spec = methods[name]
        if spec.get("is_eps") is None:
            continue
        base = next((b for b in grid_methods if b != name and methods[b].get("is_eps") is None
                     and core(methods[b]) == core(spec)), None)
        if base is not None:
            pairs.append((name, base))
    return pairs


def _curve(points: pd.DataFrame, kl: str, value: str = "gold_reward") -> tuple[np.ndarray, np.ndarray]:
    """(KL, value) of a curve's points, sorted by KL, one point per KL (values averaged)."""
    if value not in points:
        return np.zeros(0), np.zeros(0)
    points = points[[kl, value]].dropna()
    by_kl = points.groupby(kl, sort=True)[value].mean()
    return by_kl.index.to_numpy(dtype=float), by_kl.to_numpy(dtype=float)


def interpolate(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """The piecewise-linear curve (xs increasing) at x; NaN outside [xs[0], xs[-1]].
    At a curve point it is that point's y exactly."""
    if len(xs) == 0 or not math.isfinite(x) or not xs[0] <= x <= xs[-1]:
        return math.nan
    hit = np.flatnonzero(xs == x)
    return float(ys[hit[0]]) if hit.size else float(np.interp(x, xs, ys))


def _dominated(baseline: pd.DataFrame, kl: str, x: float, gold: float) -> bool:
    """Whether a baseline cell reached at least this gold reward at no more KL."""
    return bool(len(baseline)) and bool(((baseline[kl] <= x) & (baseline["gold_reward"] >= gold)).any())


def _sft_rows(regime_cells: pd.DataFrame, seed) -> pd.DataFrame:
    """The regime's SFT row(s): those of the seed if the SFT has one per seed, else all."""
    sft = regime_cells[regime_cells["method"] == SFT]
    if "seed" in sft and (sft["seed"] == seed).any():
        return sft[sft["seed"] == seed]
    return sft


def matched_kl_table(cells: pd.DataFrame, pairs: list[tuple[str, str]], kl: str = "kl_k3") -> pd.DataFrame:
    """One row per cell of each pair's variant (every regime, beta and seed it has), its
    gold reward against its baseline's at the same KL (see the module's docstring);
    columns `TABLE_COLUMNS`, rows in `pairs` order, then regime (first appearance), beta, seed."""
    cells = with_regime(cells)
    if "seed" not in cells:
        cells = cells.assign(seed=0)
    regimes = list(dict.fromkeys(cells["regime"]))
    rows = []
    for variant, baseline in pairs:
        own = cells[cells["method"] == variant]
        own = own.assign(_r=own["regime"].map(regimes.index)).sort_values(["_r", "beta", "seed"], kind="stable")
        curves: dict = {}
        for _, cell in own.iterrows():
            key = (cell["regime"], cell["seed"])
            if key not in curves:
                in_regime = cells[cells["regime"] == cell["regime"]]
                base = in_regime[(in_regime["method"] == baseline) & (in_regime["seed"] == cell["seed"])]
                points = pd.concat([base, _sft_rows(in_regime, cell["seed"])]) if len(base) else base
                curves[key] = _curve(points, kl), _curve(points, kl, "mean_length"), base
            x = float(cell[kl]) if pd.notna(cell[kl]) else math.nan
            baseline_gold = interpolate(x, *curves[key][0])
            # The same comparison for response length: does IS drift to longer outputs?
            length = float(cell["mean_length"]) if "mean_length" in cell and pd.notna(cell["mean_length"]) else math.nan
            baseline_length = interpolate(x, *curves[key][1])
            rows.append({"regime": cell["regime"], "method": variant, "baseline": baseline, "beta": cell["beta"],
                         "seed": cell["seed"], "kl": x, "gold_reward": float(cell["gold_reward"]),
                         "baseline_gold": baseline_gold, "delta": float(cell["gold_reward"]) - baseline_gold,
                         "in_range": not math.isnan(baseline_gold),
                         "dominated": _dominated(curves[key][2], kl, x, float(cell["gold_reward"])),
                         "mean_length": length,
                         "baseline_length": baseline_length, "length_delta": length - baseline_length})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).astype({"in_range": bool})


def _t_central(t: float, df: int) -> float:
    """P(|T| < t) for Student's T with integer `df` (closed forms, Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c, s = math.cos(theta), math.sin(theta)
    if df % 2:  # odd
        total, term = 0.0, c
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c * c * (2 * k) / (2 * k + 1)
        return 2 / math.pi * (theta + s * total)
    total, term = 0.0, 1.0
    for k in range(1, df // 2 + 1):
        total += term
        term *= c * c * (2 * k - 1) / (2 * k)
    return s * total


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student-t critical value: t with P(|T| < t) = confidence."""
    lo, hi = 0.0, 1.0
    while _t_central(hi, df) < confidence:
        lo, hi = hi, 2 * hi
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_central(mid, df) < confidence else (lo, mid)
    return (lo + hi) / 2


def _verdict(n_in_range: int, ci_low: float, ci_high: float) -> str:
    if n_in_range == 0:
        return "no overlap"
    if math.isnan(ci_low):
        return "one seed"
    if ci_low > 0:
        return "helps"
    if ci_high < 0:
        return "hurts"
    return "no difference"


def summarize_group(group: pd.DataFrame, confidence: float = 0.95) -> dict:
    """The counts, mean delta over seeds, its t-interval and the verdict of one group."""
    inside = group[group["in_range"]]
    per_seed = inside.groupby("seed")["delta"].mean().to_numpy(dtype=float)
    lengths = inside.groupby("seed")["length_delta"].mean().to_numpy(dtype=float) if "length_delta" in inside \
        else np.zeros(0)
    n = len(per_seed)
    mean = float(per_seed.mean()) if n else math.nan
    low = high = math.nan
    if n >= 2:
        half = t_quantile(confidence, n - 1) * float(per_seed.std(ddof=1)) / math.sqrt(n)
        low, high = mean - half, mean + half
    return {"n_seeds": n, "n_cells": len(group), "n_in_range": len(inside), "delta_mean": mean, "ci_low": low,
            "ci_high": high, "verdict": _verdict(len(inside), low, high),
            "n_dominated": int(group.loc[~group["in_range"], "dominated"].sum()) if "dominated" in group else 0,
            "length_delta_mean": float(np.mean(lengths)) if len(lengths) else math.nan}


def regime_map_summary(table: pd.DataFrame, confidence: float = 0.95, regimes: list | None = None) -> pd.DataFrame:
    """Per (regime, method, baseline) of a `matched_kl_table`: `SUMMARY_COLUMNS`. Regimes in
    `regimes` order (then any other, first appearance), methods in the table's order."""
    order = list(dict.fromkeys(list(regimes or []) + list(table["regime"])))
    pairs = list(dict.fromkeys(zip(table["method"], table["baseline"])))
    rows = []
    for regime in order:
        for method, baseline in pairs:
            group = table[(table["regime"] == regime) & (table["method"] == method) & (table["baseline"] == baseline)]
            if len(group):
                rows.append({"regime": regime, "method": method, "baseline": baseline,
                             **summarize_group(group, confidence)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def markdown_summary(summary: pd.DataFrame, method_labels: dict | None = None,
                     regime_labels: dict | None = None) -> str:
    """regime_map_summary.csv as a markdown table: one row per (regime, variant), the mean
    difference over seeds with its interval, the seeds and cells it rests on, the verdict."""
    method_labels, regime_labels = method_labels or {}, regime_labels or {}

    def number(x: float) -> str:
        return "-" if pd.isna(x) else f"{x:+.3f}".replace("-", "−")

    lines = ["| regime | IS variant | vs | Δ gold at matched KL | 95% interval | seeds | cells in range | verdict "
             "| out of range, dominated | Δ length (tokens) |", "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for row in summary.itertuples(index=False):
        interval = "-" if pd.isna(row.ci_low) else f"[{number(row.ci_low)}, {number(row.ci_high)}]"
        lines.append(f"| {regime_labels.get(row.regime, row.regime)} | {method_labels.get(row.method, row.method)} | "
                     f"{method_labels.get(row.baseline, row.baseline)} | {number(row.delta_mean)} | {interval} | "
                     f"{int(row.n_seeds)} | {int(row.n_in_range)}/{int(row.n_cells)} | {row.verdict} | "
                     f"{int(row.n_cells) - int(row.n_in_range)}, {int(getattr(row, 'n_dominated', 0))} | "
                     f"{number(getattr(row, 'length_delta_mean', math.nan))} |")
    return "\n".join(lines)
