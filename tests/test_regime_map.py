"""The regime map (`isdaa.regime_map`, figure `regime_map`): each IS variant's gold reward
against its baseline's at the same KL, interpolated along the baseline's curve of the
same regime and seed (SFT first); per-seed means, a Student-t interval over seeds and a
verdict. Interpolation and interval numbers are computed by hand here; the figure is
drawn for 2 regimes x 1 variant and 6 regimes x 9 variants and must read (no text
overlaps, legends beside the data). Degenerate interval: two identical methods give
every delta exactly 0, an interval [0, 0], which contains 0: "no difference".
"""

import math

import numpy as np
import pandas as pd
import pytest
from test_plots import assert_reads, data_axes, legend_labels

from isdaa.plots import FIGURES, method_colors
from isdaa.regime_map import (
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    default_pairs,
    matched_kl_table,
    regime_map_summary,
    t_quantile,
)

T95_DF2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom (tables)


def cell(regime, method, beta, seed, kl, gold, **extra) -> dict:
    return {"task": "toy", "regime": regime, "method": method, "beta": beta, "seed": seed, "epoch": 2.0,
            "n_samples": 1000, "gold_reward": gold, "kl_k1": kl, "kl_k3": kl, **extra}


def sft(regime, gold=1.0, seed=1) -> dict:
    return cell(regime, "sft", np.nan, seed, 0.0, gold)


# ---------------------------------------------------------------------------- the table


def test_interpolation_along_the_baseline_curve_from_the_sft_row():
    """Baseline curve of (r, seed 1): SFT (0, 1.0), (1, 2.0), (3, 1.0)."""
    cells = pd.DataFrame([
        sft("r"),
        cell("r", "dpo", 1.0, 1, 1.0, 2.0), cell("r", "dpo", 0.1, 1, 3.0, 1.0),
        cell("r", "is_dpo", 1.0, 1, 2.0, 1.7),   # between the two dpo points: 1.5
        cell("r", "is_dpo", 0.3, 1, 0.5, 1.2),   # below dpo's lowest KL, above SFT's 0: 1.5
        cell("r", "is_dpo", 0.1, 1, 4.0, 0.9),   # beyond the range: no delta
        cell("r", "is_dpo", 0.01, 1, 3.0, 0.6),  # on the curve's end point: 1.0 exactly
    ])
    table = matched_kl_table(cells, [("is_dpo", "dpo")])
    assert list(table.columns) == TABLE_COLUMNS and len(table) == 4
    table = table.set_index("beta")
    assert table.loc[1.0, "baseline_gold"] == pytest.approx(1.5)
    assert table.loc[1.0, "delta"] == pytest.approx(0.2)
    assert table.loc[0.3, "baseline_gold"] == pytest.approx(1.5)  # 1.0 + 0.5 * (2.0 - 1.0) / 1
    assert table.loc[0.3, "delta"] == pytest.approx(-0.3)
    assert table.loc[0.01, "baseline_gold"] == 1.0 and table.loc[0.01, "delta"] == pytest.approx(-0.4)
    assert not table.loc[0.1, "in_range"] and math.isnan(table.loc[0.1, "baseline_gold"])
    assert math.isnan(table.loc[0.1, "delta"])
    assert table.loc[[1.0, 0.3, 0.01], "in_range"].all()


def test_the_curve_is_the_same_regime_and_seed_and_without_a_baseline_nothing_is_in_range():
    cells = pd.DataFrame([
        sft("a"), sft("b", gold=0.0),
        cell("a", "dpo", 1.0, 1, 2.0, 3.0), cell("a", "dpo", 1.0, 2, 2.0, 5.0),
        cell("b", "dpo", 1.0, 1, 2.0, 2.0),
        cell("a", "is_dpo", 1.0, 1, 1.0, 2.0),  # a, seed 1: (0,1)-(2,3) -> 2.0
        cell("a", "is_dpo", 1.0, 2, 1.0, 2.0),  # a, seed 2: (0,1)-(2,5) -> 3.0
        cell("b", "is_dpo", 1.0, 1, 1.0, 2.0),  # b: (0,0)-(2,2) -> 1.0
        cell("b", "is_dpo", 1.0, 3, 1.0, 2.0),  # b has no dpo cell of seed 3
    ])
    table = matched_kl_table(cells, [("is_dpo", "dpo")])
    assert table["baseline_gold"].tolist()[:3] == [2.0, 3.0, 1.0]
    assert table["delta"].tolist()[:3] == [0.0, -1.0, 1.0]
    assert not table["in_range"].iloc[3] and math.isnan(table["delta"].iloc[3])


def test_every_variant_cell_appears_once_per_pair():
    cells = synthetic_cells([f"r{i}" for i in range(3)], ["dpo", "ipo"], ["is_dpo", "is_dpo_eps2", "is_ipo"])
    cells = cells[~((cells["method"] == "is_ipo") & (cells["seed"] == 3))]  # a missing cell is no problem
    pairs = [("is_dpo", "dpo"), ("is_dpo_eps2", "dpo"), ("is_ipo", "ipo")]
    table = matched_kl_table(cells, pairs)
    for variant, baseline in pairs:
        own = cells[cells["method"] == variant]
        got = table[table["method"] == variant]
        assert (got["baseline"] == baseline).all()
        assert sorted(zip(got["regime"], got["beta"], got["seed"])) == sorted(
            zip(own["regime"], own["beta"], own["seed"]))
    assert table["method"].tolist() == sorted(table["method"], key=[v for v, _ in pairs].index)


def test_two_identical_methods_differ_by_exactly_zero_and_no_difference():
    cells = synthetic_cells(["a", "b"], ["dpo"], [])
    twin = cells[cells["method"] == "dpo"].assign(method="twin")
    cells = pd.concat([cells, twin])
    table = matched_kl_table(cells, [("twin", "dpo")])
    assert len(table) == len(twin) and table["in_range"].all()
    assert (table["delta"] == 0.0).all()  # exactly
    summary = regime_map_summary(table)
    assert (summary[["delta_mean", "ci_low", "ci_high"]] == 0.0).all().all()
    assert set(summary["verdict"]) == {"no difference"}
    fig = FIGURES["regime_map"]({"cells": cells}, {"methods": [], "regime_pairs": [{"method": "twin", "baseline": "dpo"}]})
    heat = next(ax for ax in fig.axes if ax.images)
    assert [t.get_text().split("\n")[:2] for t in heat.texts] == [["0.000", "[0.000, 0.000]"]] * 2


# ---------------------------------------------------------------------------- the summary


def test_t_quantile_matches_the_tables():
    assert t_quantile(0.95, 1) == pytest.approx(12.706204736174698, rel=1e-9)
    assert t_quantile(0.95, 2) == pytest.approx(T95_DF2, rel=1e-9)
    assert t_quantile(0.95, 4) == pytest.approx(2.7764451051977987, rel=1e-9)
    assert t_quantile(0.99, 9) == pytest.approx(3.2498355415921263, rel=1e-9)


def table_rows(regime, method, deltas_by_seed, baseline="dpo") -> list[dict]:
    return [{"regime": regime, "method": method, "baseline": baseline, "beta": 0.1 * (k + 1), "seed": seed,
             "kl": 1.0, "gold_reward": 1.0, "baseline_gold": 1.0 - d, "delta": d, "in_range": not math.isnan(d)}
            for seed, deltas in deltas_by_seed.items() for k, d in enumerate(deltas)]


def test_the_interval_is_students_t_over_the_per_seed_means():
    rows = table_rows("r", "helps", {1: [0.2, 0.4], 2: [0.4], 3: [0.5, math.nan]})  # seed means .3, .4, .5
    rows += table_rows("r", "unsure", {1: [0.1], 2: [0.2], 3: [0.3]})
    rows += table_rows("r", "hurts", {1: [-0.3], 2: [-0.4], 3: [-0.5]})
    rows += table_rows("r", "single", {1: [0.7, math.nan], 2: [math.nan]})
    rows += table_rows("r", "apart", {1: [math.nan], 2: [math.nan]})
    summary = regime_map_summary(pd.DataFrame(rows))
    assert list(summary.columns) == SUMMARY_COLUMNS
    summary = summary.set_index("method")
    half = T95_DF2 * 0.1 / math.sqrt(3)  # sd of (.3, .4, .5) is 0.1
    assert half == pytest.approx(0.24841377, abs=1e-8)
    assert summary.loc["helps", ["delta_mean", "ci_low", "ci_high"]].tolist() == pytest.approx(
        [0.4, 0.4 - half, 0.4 + half])
    assert summary.loc["helps", ["n_seeds", "n_cells", "n_in_range"]].tolist() == [3, 5, 4]
    assert summary.loc["unsure", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.2 - half, 0.2 + half])
    assert summary.loc["hurts", "ci_high"] == pytest.approx(-0.4 + half)
    assert summary["verdict"].to_dict() == {"helps": "helps", "unsure": "no difference", "hurts": "hurts",
                                            "single": "one seed", "apart": "no overlap"}
    assert summary.loc["single", "n_seeds"] == 1 and summary.loc["single", "delta_mean"] == pytest.approx(0.7)
    assert math.isnan(summary.loc["single", "ci_low"]) and math.isnan(summary.loc["apart", "delta_mean"])
    assert summary.loc["apart", ["n_seeds", "n_cells", "n_in_range"]].tolist() == [0, 2, 0]
    wider = regime_map_summary(pd.DataFrame(rows), confidence=0.99).set_index("method")
    assert wider.loc["helps", "ci_high"] - 0.4 == pytest.approx(t_quantile(0.99, 2) * 0.1 / math.sqrt(3))


def test_regimes_and_methods_keep_their_order():
    cells = synthetic_cells(["z_late", "a_early", "m"], ["dpo", "ipo"], ["is_ipo", "is_dpo"])
    pairs = [("is_ipo", "ipo"), ("is_dpo", "dpo")]
    summary = regime_map_summary(matched_kl_table(cells, pairs))
    assert list(dict.fromkeys(summary["regime"])) == ["z_late", "a_early", "m"]
    assert summary["method"].tolist() == ["is_ipo", "is_dpo"] * 3
    again = regime_map_summary(matched_kl_table(cells, pairs), regimes=["m", "z_late"])
    assert list(dict.fromkeys(again["regime"])) == ["m", "z_late", "a_early"]


def test_default_pairs_match_everything_but_the_label_and_is_keys():
    methods = {
        "dpo": {"daa": "dpo", "label": "DPO"},
        "is_dpo": {"daa": "dpo", "is_eps": 1.0, "label": "IS-DPO (ε=1)"},
        "is_dpo_eps2": {"daa": "dpo", "is_eps": 2.0, "is_other": 3, "label": "IS-DPO (ε=2)"},
        "ipo": {"daa": "ipo", "label": "IPO"},
        "is_ipo": {"daa": "ipo", "is_eps": 1.0},
        "rpo": {"daa": "dpo", "rpo_eta": 0.005, "label": "RPO"},
        "is_rpo": {"daa": "dpo", "rpo_eta": 0.005, "is_eps": 1.0, "label": "IS-RPO"},
        "dpo_long": {"daa": "dpo", "training": {"epochs": 4}},
        "is_dpo_long": {"daa": "dpo", "is_eps": 1.0, "training": {"epochs": 4}},
        "is_dpo_short": {"daa": "dpo", "is_eps": 1.0, "training": {"epochs": 1}},  # no plain twin
        "is_slic": {"daa": "slic", "is_eps": 1.0},  # slic not in the grid
        "slic": {"daa": "slic"},
    }
    grid = ["is_dpo", "dpo", "is_dpo_eps2", "ipo", "is_ipo", "rpo", "is_rpo", "dpo_long", "is_dpo_long",
            "is_dpo_short", "is_slic"]
    assert default_pairs(methods, grid) == [("is_dpo", "dpo"), ("is_dpo_eps2", "dpo"), ("is_ipo", "ipo"),
                                            ("is_rpo", "rpo"), ("is_dpo_long", "dpo_long")]


# ---------------------------------------------------------------------------- the figure

REGIME_LABELS = ["default (lr 6e-4, 2 epochs)", "lr 1e-4, 1 epoch", "pairs sampled at temperature 0.7",
                 "small data: 1k preference pairs", "lr 3e-5, 4 epochs, batch 64", "off-policy pairs (dataset)"]
VARIANTS = {"dpo": [0.25, 0.5, 1.0, 2.0], "ipo": [0.5, 1.0], "slic": [0.5, 1.0, 2.0]}
LABELS = {"dpo": "DPO", "ipo": "IPO", "slic": "SLiC"}


def synthetic_cells(regimes: list[str], baselines: list[str], variants: list[str], seeds=(1, 2, 3),
                    betas=(0.01, 0.1, 1.0), seed: int = 0) -> pd.DataFrame:
    """Cells of a (regime, method, beta, seed) grid: gold rises then falls with KL, each
    variant drifts further and sits above or below its baseline by a regime's effect."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, regime in enumerate(regimes):
        rows.append(sft(regime, gold=1.0 + 0.05 * i))
        for method in baselines + variants:
            daa = method.removeprefix("is_").split("_")[0]
            eps = 0.0 if method in baselines else float(method.split("eps")[1]) if "eps" in method else 1.0
            effect = 0.0 if method in baselines else 0.12 * math.sin(1.7 * i + 2.3 * eps + len(daa))
            for beta in betas:
                for s in seeds:
                    kl = (0.4 + 0.1 * i) * (1 - math.log10(beta)) * (1 + 0.3 * eps) * (1 + 0.1 * rng.standard_normal())
                    gold = 1.0 + 0.05 * i + 0.4 * kl - 0.1 * kl**2 + effect + 0.03 * rng.standard_normal()
                    rows.append(cell(regime, method, beta, s, kl, gold))
    return pd.DataFrame(rows)


def synthetic_case(n_regimes: int, n_variants: int) -> tuple[dict, dict]:
    variants = [(daa, eps) for daa, all_eps in VARIANTS.items() for eps in all_eps]
    variants = sorted(variants, key=lambda v: (v[1] != 1.0, list(VARIANTS).index(v[0])))[:n_variants]
    variants = sorted(variants, key=lambda v: (list(VARIANTS).index(v[0]), v[1]))
    baselines = list(dict.fromkeys(daa for daa, _ in variants))
    names = {v: f"is_{v[0]}" if v[1] == 1.0 else f"is_{v[0]}_eps{v[1]:g}" for v in variants}
    regimes = [f"regime{i}" for i in range(n_regimes)]
    cells = synthetic_cells(regimes, baselines, list(names.values()))
    methods = [{"name": b, "label": LABELS[b], "daa": b, "family": b, "is_eps": None} for b in baselines]
    methods += [{"name": names[v], "label": f"IS-{LABELS[v[0]]} (ε={v[1]:g})", "daa": v[0], "family": v[0],
                 "is_eps": v[1]} for v in variants]
    settings = {"kl_estimator": "kl_k3", "task": "toy", "methods": methods, "eps": {},
                "regimes": [{"name": r, "label": label} for r, label in zip(regimes, REGIME_LABELS)],
                "regime_pairs": [{"method": names[v], "baseline": v[0]} for v in variants]}
    return {"cells": cells, "summary": pd.DataFrame(), "dynamics": pd.DataFrame(), "train_logs": pd.DataFrame()}, \
        settings


@pytest.mark.parametrize("n_regimes, n_variants", [(2, 1), (6, 9), (1, 3), (3, 9)])
def test_the_figure_reads_at_small_and_large_sizes(n_regimes, n_variants):
    tables, settings = synthetic_case(n_regimes, n_variants)
    fig = FIGURES["regime_map"](tables, settings)
    assert_reads(fig)
    heat = next(ax for ax in fig.axes if ax.images)
    labels = [t.get_text() for t in heat.get_yticklabels()]
    assert [label.replace("\n", " ") for label in labels] == REGIME_LABELS[:n_regimes]
    assert len(heat.get_xticklabels()) == n_variants
    assert any("matched KL" in ax.get_ylabel() and "IS variant − baseline" in ax.get_ylabel().replace("\n", " ")
               for ax in fig.axes)
    panels = [ax for ax in data_axes(fig) if ax is not heat and not ax.images and ax.get_title()]
    assert [ax.get_title().replace("\n", " ") for ax in panels] == REGIME_LABELS[:n_regimes]
    assert all(any(line.get_marker() == "*" for line in ax.get_lines()) for ax in panels)
    methods = [m["label"] for m in settings["methods"]]
    assert [label for label in legend_labels(fig) if label in methods] == methods
    assert "3 seeds" in fig.get_suptitle() and "1000 held-out samples" in fig.get_suptitle()


def test_the_map_text_says_mean_interval_and_plain_words():
    tables, settings = synthetic_case(2, 1)
    cells = tables["cells"]
    # regime1: the variant far beyond the baseline's KL range; regime0: one seed left.
    far = (cells["regime"] == "regime1") & (cells["method"] == "is_dpo")
    cells.loc[far, "kl_k3"] += 100
    cells = cells[~((cells["regime"] == "regime0") & (cells["method"] == "is_dpo") & (cells["seed"] > 1))]
    fig = FIGURES["regime_map"]({**tables, "cells": cells}, settings)
    heat = next(ax for ax in fig.axes if ax.images)
    texts = [t.get_text() for t in heat.texts]
    assert texts[0].split("\n")[1:] == ["one seed", "2/3 in range"] and texts[1] == "no overlap"
    tables, settings = synthetic_case(2, 1)
    heat = next(ax for ax in FIGURES["regime_map"](tables, settings).axes if ax.images)
    assert all(t.get_text().count("[") == 1 and t.get_text()[0] in "+−" for t in heat.texts)


def test_the_figure_uses_the_method_colours_and_needs_no_regime_column():
    tables, settings = synthetic_case(2, 1)
    cells = tables["cells"].query("regime == 'regime0'").drop(columns="regime")
    settings = {**settings, "regimes": [], "regime_pairs": [], "eval_prompts": 500}
    fig = FIGURES["regime_map"]({**tables, "cells": cells}, settings)
    assert_reads(fig)
    assert "500 held-out prompts (1000 samples per policy)" in fig.get_suptitle()
    heat = next(ax for ax in fig.axes if ax.images)
    assert [t.get_text() for t in heat.get_yticklabels()] == ["default"]
    colors = method_colors(settings["methods"])
    panel = next(ax for ax in data_axes(fig) if not ax.images and ax.get_title() == "default")
    assert {colors["dpo"], colors["is_dpo"]} <= {line.get_color() for line in panel.get_lines()}


def test_response_length_is_compared_at_matched_kl_too():
    """Baseline (r, seed 1): SFT (KL 0, length 2), dpo (KL 2, length 4); a variant cell at
    KL 1 with length 5 is 2 tokens longer than the baseline's 3 there."""
    cells = pd.DataFrame([
        {**sft("r"), "mean_length": 2.0},
        cell("r", "dpo", 1.0, 1, 2.0, 2.0, mean_length=4.0),
        cell("r", "is_dpo", 1.0, 1, 1.0, 1.0, mean_length=5.0),
        cell("r", "is_dpo", 1.0, 2, 1.0, 1.0, mean_length=5.0),  # no baseline of seed 2
    ])
    table = matched_kl_table(cells, [("is_dpo", "dpo")]).set_index("seed")
    assert table.loc[1, "baseline_length"] == pytest.approx(3.0) and table.loc[1, "length_delta"] == pytest.approx(2.0)
    assert math.isnan(table.loc[2, "length_delta"])
    summary = regime_map_summary(table.reset_index())
    assert summary["length_delta_mean"].tolist() == pytest.approx([2.0])


def test_an_out_of_range_cell_is_dominated_when_the_baseline_did_better_with_less_kl():
    cells = pd.DataFrame([
        sft("r"),
        cell("r", "dpo", 1.0, 1, 1.0, 2.0), cell("r", "dpo", 0.1, 1, 2.0, 1.5),
        cell("r", "is_dpo", 1.0, 1, 3.0, 1.0),   # beyond KL 2, below gold 2.0 at KL 1: dominated
        cell("r", "is_dpo", 0.1, 1, 3.0, 2.5),   # beyond KL 2 with more gold than any dpo cell: not
    ])
    table = matched_kl_table(cells, [("is_dpo", "dpo")]).set_index("beta")
    assert not table["in_range"].any()
    assert table.loc[1.0, "dominated"] and not table.loc[0.1, "dominated"]
    assert regime_map_summary(table.reset_index())["n_dominated"].tolist() == [1]
