"""The figures read at a glance: no text drawn over other text or outside the figure,
legends beside the data and listing every method (config label, config order), axes
that name their quantity and estimator, methods that do not hide one another, and no
crash on the edge cases (one seed, one beta, no dynamics cells, no IS method).

Tables: tests/data/demo_tables/ (a copy of a real demo run: 13 cells, one seed) and a
full-study-shaped summary synthesised here from config/toy-full.yaml's grid (3 seeds,
the clip ablation, RPO/R-DPO/DPO on the same spot at beta 1 as in the real study); for
`benchmark_scores`, a benchmarks table as the judge rules write it (SFT, 2 methods x 2
betas x 2 seeds, AlpacaEval, Arena-Hard and MT-Bench). Fast: no Snakemake, no model;
every figure drawn off-screen with Agg.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, default_config
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text

from isdaa.cli import main
from isdaa.config import eps_ablation, task_config, validate_config
from isdaa.plots import FIGURES, KL_LABELS, benchmark_scores, method_colors, plot_settings, save

DATA = Path(__file__).parent / "data" / "demo_tables"
SMALL_MULTIPLES = ("kl_tradeoff", "gold_vs_beta", "winrate_vs_beta")


def demo_tables() -> dict:
    tables = {name: pd.read_csv(DATA / f"{name}.csv") for name in ("summary", "dynamics", "train_logs")}
    return {**tables, "cells": cells_from_summary(tables["summary"])}


def cells_from_summary(summary: pd.DataFrame, seeds=(1,), regimes=("default",), noise: float = 0.0) -> pd.DataFrame:
    """A cells table (one row per policy, as cells.csv) from a summary's means: each seed
    the means plus noise on the trained cells' gold, each later regime a little lower;
    one SFT row per regime."""
    rng = np.random.default_rng(0)
    means = summary.rename(columns={c: c.removesuffix("_mean") for c in summary if c.endswith("_mean")})
    means = means[[c for c in means if not c.endswith("_std") and c != "n_seeds"]]
    frames = []
    for i, regime in enumerate(regimes):
        for seed in seeds:
            trained = means["method"] != "sft"
            frame = means[trained | (seed == seeds[0])].assign(regime=regime, seed=seed)
            frame.loc[frame["method"] != "sft", "gold_reward"] += (
                noise * rng.standard_normal(int(trained.sum())) - 0.03 * i)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def demo_task() -> dict:
    return task_config(validate_config(default_config()), "toy")


def full_task() -> dict:
    return task_config(validate_config(yaml.safe_load((REPO / "config" / "toy-full.yaml").read_text())), "toy")


def summary_rows(task: dict, seeds: int = 3, seed: int = 0) -> pd.DataFrame:
    """A summary table over the task's grid: gold falls and KL grows as beta shrinks, IS
    methods drift further; RPO and R-DPO sit on DPO at every beta (as in the real study)."""
    rng = np.random.default_rng(seed)
    rows = [{"task": task["name"], "method": "sft", "beta": np.nan, "n_seeds": 1, "gold_reward_mean": 1.065,
             "win_rate_mean": 0.596, "kl_k1_mean": 0.0, "kl_k3_mean": 0.0}]
    g = task["grid"]
    for name in g["methods"]:
        spec = task["methods"][name]
        for beta in g.get("per_method", {}).get(name, {}).get("betas", g["betas"]):
            twin = "dpo" if name in ("rpo", "rdpo") else name
            drift = (1.0 + (spec.get("is_eps") or 0)) * (1 - math.log10(beta))
            drift += 0 if twin == "dpo" else 0.1 * len(name)
            kl = 0.5 * drift + (0 if twin == "dpo" else rng.uniform(0, 0.3))
            rows.append({"task": task["name"], "method": name, "beta": float(beta), "n_seeds": seeds,
                         "gold_reward_mean": 1.15 - 0.25 * kl, "win_rate_mean": 0.63 - 0.05 * kl,
                         "kl_k1_mean": 1.3 * kl, "kl_k3_mean": kl})
    table = pd.DataFrame(rows)
    for column in ("gold_reward", "win_rate", "kl_k1", "kl_k3"):
        table[f"{column}_std"] = np.where(table["n_seeds"] > 1, 0.05 + 0.1 * table[f"{column}_mean"].abs(), np.nan)
    return table


def full_tables() -> dict:
    task = full_task()
    demo = demo_tables()
    dynamics = pd.concat([demo["dynamics"]] + [demo["dynamics"].query("method != 'sft'").assign(beta=b)
                                                for b in (0.1, 1.0)])
    logs = pd.concat([demo["train_logs"]] + [demo["train_logs"].assign(beta=b) for b in (0.1, 1.0)])
    summary = summary_rows(task)
    cells = cells_from_summary(summary, seeds=(1, 2, 3), regimes=("default", "lr 1e-4, 1 epoch"), noise=0.05)
    return {"summary": summary, "dynamics": dynamics, "train_logs": logs, "cells": cells}


CASES = {
    "demo": lambda: (demo_tables(), plot_settings(demo_task(), "kl_k3")),
    "full": lambda: (full_tables(), plot_settings(full_task(), "kl_k3")),
}


def draw(fig) -> list[tuple[Text, object]]:
    """Lay the figure out; return every text actually drawn with its extent."""
    drawn = []
    original = Text.draw

    def record(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append((self, self.get_window_extent(renderer)))

    Text.draw = record
    try:
        fig.canvas.draw()
    finally:
        Text.draw = original
    return drawn


def legends(fig) -> list:
    """Every legend: the figure's, its subfigures' (nested) and its axes'."""
    found, stack = [], [fig]
    while stack:
        sub = stack.pop(0)
        found += list(sub.legends)
        stack += list(getattr(sub, "subfigs", []))
    return found + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in legends(fig) for t in legend.get_texts() if t.get_fontweight() != "bold"]


def data_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.axison]


def assert_reads(fig) -> None:
    """No drawn text overlaps another or leaves the figure; legends cover no axes."""
    texts = draw(fig)
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    for text, box in texts:
        assert (box.x0 >= page.x0 - 1 and box.y0 >= page.y0 - 1 and box.x1 <= page.x1 + 1
                and box.y1 <= page.y1 + 1), f"{text.get_text()!r} falls outside the figure"
    shrunk = [(t, b.expanded(1.0, 1.0).shrunk(0.98, 0.9)) for t, b in texts]
    for i, (a, box_a) in enumerate(shrunk):
        for b, box_b in shrunk[i + 1:]:
            assert not box_a.overlaps(box_b), f"{a.get_text()!r} overlaps {b.get_text()!r}"
    for legend in legends(fig):
        box = legend.get_window_extent(renderer)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1
        for ax in data_axes(fig):
            assert not box.overlaps(ax.get_window_extent(renderer)), f"the legend covers the panel {ax.get_title()!r}"


@pytest.fixture(scope="module")
def figures():
    """(case, figure) -> figure, each drawn once for the module."""
    cache = {}

    def get(case, name):
        if (case, name) not in cache:
            tables, settings = CASES[case]()
            cache[case, name] = FIGURES[name](tables, settings)
        return cache[case, name]

    return get


# ---------------------------------------------------------------------------- settings


def test_plot_settings_keep_the_config_order_labels_and_families():
    task = full_task()
    settings = plot_settings(task, "kl_k1")
    assert settings["kl_estimator"] == "kl_k1" and settings["task"] == "toy"
    assert [m["name"] for m in settings["methods"]] == task["grid"]["methods"]
    by_name = {m["name"]: m for m in settings["methods"]}
    assert by_name["is_dpo"] == {"name": "is_dpo", "label": "IS-DPO (ε=1)", "daa": "dpo", "family": "dpo",
                                 "is_eps": 1.0}
    assert {n: by_name[n]["family"] for n in ("dpo", "is_dpo_eps0.25", "ipo", "is_ipo", "slic", "is_slic")} == {
        "dpo": "dpo", "is_dpo_eps0.25": "dpo", "ipo": "ipo", "is_ipo": "ipo", "slic": "slic", "is_slic": "slic"}
    assert {by_name[n]["family"] for n in ("rpo", "rdpo", "chipo")} == {"baselines"}
    assert settings["eps"] == eps_ablation(task)
    task["methods"]["dpo_long"] = {"daa": "dpo", "training": {"epochs": 4}}
    task["grid"]["methods"].append("dpo_long")
    assert plot_settings(task)["methods"][-1]["family"] == "baselines"


def test_each_method_has_its_own_colour_in_its_family_hue():
    import colorsys

    from matplotlib.colors import to_rgb

    methods = plot_settings(full_task())["methods"]
    colors = method_colors(methods)
    assert len(set(colors.values())) == len(methods)

    def hue_lightness(name):
        h, l, _ = colorsys.rgb_to_hls(*to_rgb(colors[name]))
        return h, l

    for daa, variants in (("dpo", ["is_dpo", "is_dpo_eps0.25", "is_dpo_eps2"]), ("ipo", ["is_ipo"]),
                          ("slic", ["is_slic"])):
        hue, light = hue_lightness(daa)
        for variant in variants:
            h, l = hue_lightness(variant)
            assert abs(h - hue) < 0.08 and l > light, (daa, variant)  # same hue, lighter
    # The looser the clip, the lighter the IS-DPO shade.
    assert hue_lightness("is_dpo_eps0.25")[1] < hue_lightness("is_dpo")[1] < hue_lightness("is_dpo_eps2")[1]


def test_a_method_keeps_its_colour_in_every_figure(figures):
    seen = {}
    for name in FIGURES:
        fig = figures("full", name)
        for legend in legends(fig):
            for handle, text in zip(legend.legend_handles, legend.get_texts()):
                label = text.get_text().split(", β")[0].replace(" (no IS)", ",").split(",")[0]
                if isinstance(handle, Line2D) and label in ("DPO", "IS-DPO (ε=1)"):
                    color = handle.get_markerfacecolor() if handle.get_linestyle() == "None" else handle.get_color()
                    seen.setdefault(label, set()).add(color)
    assert set(seen) == {"DPO", "IS-DPO (ε=1)"}
    assert all(len(colors) == 1 for colors in seen.values()), seen


# ---------------------------------------------------------------------------- reading


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", list(FIGURES))
def test_no_text_overlaps_or_leaves_the_figure_and_legends_cover_no_data(figures, case, name):
    assert_reads(figures(case, name))


@pytest.mark.parametrize("name", SMALL_MULTIPLES + ("is_eps_ablation",))
def test_legends_list_every_method_with_its_label_in_config_order(figures, name):
    tables, settings = CASES["full"]()
    in_table = set(tables["summary"]["method"])
    wanted = [m["label"] for m in settings["methods"] if m["name"] in in_table]
    if name == "is_eps_ablation":
        wanted = [m["label"] for m in settings["methods"] if settings["eps"].get(m["name"]) is not None]
    labels = legend_labels(figures("full", name))
    shown = [label for label in labels if label in wanted]
    assert shown == wanted


def test_without_a_config_the_legend_shows_raw_names_in_table_order():
    tables = demo_tables()
    fig = FIGURES["kl_tradeoff"](tables, {"kl_estimator": "kl_k3", "methods": [], "eps": {}})
    order = [m for m in dict.fromkeys(tables["summary"]["method"]) if m != "sft"]
    assert [label for label in legend_labels(fig) if label in order] == order
    assert_reads(fig)


def test_training_dynamics_legend_names_each_cell_by_its_label(figures):
    labels = legend_labels(figures("full", "training_dynamics"))
    cells = [label for label in labels if ", β = " in label]
    assert cells == [f"{m}, β = {b}" for m in ("DPO", "IS-DPO (ε=1)") for b in ("0.01", "0.1", "1")]


def axis_labels(fig) -> list[str]:
    labels = [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
    labels += [fig.get_supxlabel(), fig.get_supylabel()]
    return [label for label in labels if label]


@pytest.mark.parametrize("estimator", ["kl_k3", "kl_k1"])
def test_axis_labels_name_the_quantity_and_the_kl_estimator(estimator):
    tables, settings = CASES["full"]()
    settings = {**settings, "kl_estimator": estimator}
    other = "k1" if estimator == "kl_k3" else "k3"
    for name in ("kl_tradeoff", "training_dynamics", "is_eps_ablation"):
        labels = axis_labels(FIGURES[name](tables, settings))
        kl = [label for label in labels if label.startswith("KL")]
        assert kl and all(label == KL_LABELS[estimator] for label in kl), (name, labels)
        assert "SFT" in KL_LABELS[estimator] and estimator[-2:] in KL_LABELS[estimator] and other not in kl[0]
        assert any(label.startswith("gold reward") for label in labels), (name, labels)
    assert {"β (KL strength, log scale)", "gold reward (held-out mean)"} <= set(
        axis_labels(FIGURES["gold_vs_beta"](tables, settings)))
    assert any("win rate" in label for label in axis_labels(FIGURES["winrate_vs_beta"](tables, settings)))


@pytest.mark.parametrize("case, note", [("full", "mean ± std over 3 seeds"), ("demo", "one seed per point")])
@pytest.mark.parametrize("name", SMALL_MULTIPLES + ("is_eps_ablation",))
def test_titles_say_how_many_seeds_a_point_averages(figures, case, note, name):
    assert note in figures(case, name).get_suptitle()


# ---------------------------------------------------------------------------- each figure


def test_kl_tradeoff_has_a_panel_per_family_and_the_sft_star_in_each(figures):
    fig = figures("full", "kl_tradeoff")
    titles = [ax.get_title() for ax in data_axes(fig)]
    assert titles == ["DPO and IS-DPO (ε=1)", "DPO with IS, over the clip ε\n(faint: DPO)", "IPO and IS-IPO (ε=1)",
                      "SLiC and IS-SLiC (ε=1)", "Baselines (other modifiers)\n(faint: DPO)"]
    axes = data_axes(fig)
    assert all(ax.get_shared_x_axes().joined(axes[0], ax) and ax.get_shared_y_axes().joined(axes[0], ax)
               for ax in axes)
    for ax in axes:
        assert any(line.get_marker() == "*" and line.get_xdata()[0] == 0 for line in ax.get_lines()), ax.get_title()
    # Plain DPO is faint behind the baselines; no beta is written beside a point.
    dpo = method_colors(CASES["full"]()[1]["methods"])["dpo"]
    assert any(line.get_color() == dpo and (line.get_alpha() or 1) < 0.5 for line in axes[-1].get_lines())
    assert not any(t.get_text().startswith("β=") for ax in axes for t in ax.texts)


def test_kl_tradeoff_shows_points_on_the_same_spot_as_rings(figures):
    """RPO and R-DPO sit on DPO at beta 1: the later series draws smaller markers."""
    ax = data_axes(figures("full", "kl_tradeoff"))[-1]
    colors = method_colors(CASES["full"]()[1]["methods"])
    size = {}
    for line in ax.get_lines():
        if line.get_marker() == "^":
            size.setdefault(line.get_markerfacecolor(), line.get_markersize())
    sizes = [size[colors[m]] for m in ("dpo", "rpo", "rdpo")]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 3


@pytest.mark.parametrize("name", ["gold_vs_beta", "winrate_vs_beta"])
def test_methods_at_the_same_beta_are_dodged_apart(figures, name):
    for ax in data_axes(figures("demo", name)):
        at = {}
        for line in ax.get_lines():
            if line.get_marker() not in ("None", None, "") and len(line.get_xdata()) == 1:
                at.setdefault(float(line.get_xdata()[0]), set()).add(line.get_markerfacecolor())
        assert all(len(colors) == 1 for colors in at.values()), ax.get_title()
        assert at, ax.get_title()


def test_training_dynamics_marks_the_epochs_along_the_gold_vs_kl_path(figures):
    fig = figures("demo", "training_dynamics")
    path = next(ax for ax in fig.axes if ax.get_title().startswith("Gold vs KL"))
    arrows = [p for p in path.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 2 * 4  # two cells, four steps each from SFT
    for color in {line.get_color() for line in path.get_lines() if line.get_marker() not in ("*",)}:
        sizes = [line.get_markersize() for line in path.get_lines()
                 if line.get_color() == color and len(line.get_xdata()) == 1]
        assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes) == 4  # grows with the epoch
    assert any(label.startswith("epoch 2") and "end" in label for label in legend_labels(fig))


@pytest.mark.parametrize("case", list(CASES))
def test_is_eps_ablation_shows_dpo_and_sft_lines_and_one_x_per_eps(figures, case):
    """Per beta (a column): gold on top, KL below; the DPO line (same beta) and the SFT
    line (KL 0) lie inside each panel's limits; the x axis has one position per eps."""
    tables, settings = CASES[case]()
    sft_gold = round(tables["summary"].query("method == 'sft'")["gold_reward_mean"].iloc[0], 6)
    summary = tables["summary"].set_index(["method", "beta"])
    fig = figures(case, "is_eps_ablation")
    eps = sorted({float(e) for e in settings["eps"].values() if e is not None})
    top = [ax for ax in fig.axes if ax.get_title()]
    bottom = [ax for ax in fig.axes if ax.axison and not ax.get_title()]
    assert len(top) == len(bottom) >= 1

    def levels(ax):
        """The y of each horizontal reference line, all inside the panel's limits."""
        ys = {round(float(line.get_ydata()[0]), 6) for line in ax.get_lines()
              if len(line.get_ydata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]}
        low, high = ax.get_ylim()
        assert all(low < y < high for y in ys), (ax.get_title(), ys, (low, high))
        return ys

    for gold_ax, kl_ax in zip(top, bottom):
        beta = float(gold_ax.get_title().split("= ")[1])
        assert {round(summary.loc[("dpo", beta), "gold_reward_mean"], 6), sft_gold} <= levels(gold_ax)
        assert {round(summary.loc[("dpo", beta), "kl_k3_mean"], 6), 0.0} <= levels(kl_ax)
        assert [t.get_text() for t in kl_ax.get_xticklabels()] == [f"{e:g}" for e in eps]


# ---------------------------------------------------------------------------- edge cases


def no_is(tables: dict) -> dict:
    keep = ~tables["summary"]["method"].astype(str).str.startswith("is_")
    return {**tables, "summary": tables["summary"][keep]}


SUMMARY_FIGURES = ("kl_tradeoff", "gold_vs_beta", "winrate_vs_beta", "is_eps_ablation")
# (tables, settings) and the figures that draw from what the case changes. One seed
# (std NaN everywhere) is the demo case above.
EDGE_CASES = {
    "a method at a single beta": (lambda: ({**full_tables(), "summary": full_tables()["summary"].query(
        "method != 'ipo' or beta == 0.1")}, plot_settings(full_task())), SUMMARY_FIGURES),
    "no IS method": (lambda: (no_is(demo_tables()), {**plot_settings(demo_task()), "eps": {"dpo": None}, "methods": [
        m for m in plot_settings(demo_task())["methods"] if m["is_eps"] is None]}), SUMMARY_FIGURES),
    "a single method": (lambda: ({**demo_tables(), "summary": demo_tables()["summary"].query(
        "method in ['sft', 'dpo']")}, plot_settings(demo_task())), ("kl_tradeoff", "gold_vs_beta", "is_eps_ablation")),
    "no dynamics cells": (lambda: ({**demo_tables(), "dynamics": demo_tables()["dynamics"].iloc[0:0],
                                    "train_logs": demo_tables()["train_logs"].iloc[0:0]}, plot_settings(demo_task())),
                          ("training_dynamics",)),
    "dynamics without training logs": (lambda: ({**demo_tables(), "train_logs": demo_tables()["train_logs"].iloc[0:0]},
                                                plot_settings(demo_task())), ("training_dynamics",)),
}


@pytest.mark.parametrize("case, name", [(case, name) for case, (_, names) in EDGE_CASES.items() for name in names])
def test_edge_cases_draw_a_figure_that_reads(case, name):
    tables, settings = EDGE_CASES[case][0]()
    assert_reads(FIGURES[name](tables, settings))


def test_without_dynamics_cells_the_figure_says_so():
    tables, settings = EDGE_CASES["no dynamics cells"][0]()
    fig = FIGURES["training_dynamics"](tables, settings)
    assert any("dynamics" in t.get_text() and "config" in t.get_text() for ax in fig.axes for t in ax.texts)
    tables, settings = EDGE_CASES["no IS method"][0]()
    fig = FIGURES["is_eps_ablation"](tables, settings)
    assert any("No IS-DPO" in t.get_text() for ax in fig.axes for t in ax.texts)


# ---------------------------------------------------------------------------- benchmarks

# (benchmark, version, judge, questions, metrics (primary first), SFT score, gain as beta
# falls a decade, half width of a 90% interval): AlpacaEval and Arena-Hard in %, MT-Bench 1-10.
BENCHMARK_SPECS = [
    ("alpaca_eval", "2.0", "gpt-4-1106-preview", 805, ("lc_win_rate", "win_rate"), 8.0, 3.0, 1.2),
    ("arena_hard", "v0.1", "gpt-4-1106-preview", 500, ("win_rate",), 5.0, 2.0, 1.5),
    ("mt_bench", "1", "gpt-4", 80, ("overall", "turn_1", "turn_2"), 5.2, 0.4, 0.25),
]


def benchmark_rows(methods=("dpo", "is_dpo"), betas=(0.1, 0.01), seeds=(1, 2)) -> pd.DataFrame:
    """A benchmarks table as the judge rules write it: the SFT policy and each (method,
    beta, seed), every metric of AlpacaEval 2.0, Arena-Hard v0.1 and MT-Bench; scores rise
    from the SFT policy's as beta falls, IS-DPO's less, seeds apart by a little."""
    rows = []
    policies = [("sft", np.nan, seeds[0])] + [(m, b, s) for m in methods for b in betas for s in seeds]
    for method, beta, seed in policies:
        for benchmark, version, judge, n, metrics, sft, gain, half in BENCHMARK_SPECS:
            for i, metric in enumerate(metrics):
                decades = 0.0 if method == "sft" else 2 - math.log10(beta)
                score = sft + gain * decades * (0.6 if method.startswith("is_") else 1.0) + 0.3 * half * (seed - 1.5)
                score -= 0.1 * gain * i
                rows.append({"task": "toy", "regime": "default", "method": method, "beta": beta, "seed": seed,
                             "benchmark": benchmark, "version": version, "metric": metric, "primary": i == 0,
                             "judge_model": judge, "score": score, "interval_low": score - half,
                             "interval_high": score + half, "n": n, "failures": 0, "tokens": 600 * n,
                             "prompt_tokens": 500 * n, "completion_tokens": 100 * n, "calls": n,
                             "cost_usd": 0.006 * n})
    return pd.DataFrame(rows)


BENCHMARK_TITLES = ["AlpacaEval 2.0 (LC win rate, %)", "Arena-Hard v0.1 (win rate vs baseline, %)",
                    "MT-Bench (1–10)"]


def panel_notes(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_benchmark_scores_draw_a_panel_per_benchmark_a_line_per_method_and_the_sft_line():
    table, settings = benchmark_rows(), plot_settings(demo_task())
    fig = benchmark_scores(table, settings)
    assert_reads(fig)
    axes = data_axes(fig)
    assert [ax.get_title() for ax in axes] == BENCHMARK_TITLES
    colors = method_colors(settings["methods"])
    primary = table[table["primary"]]
    for ax, (benchmark, *_) in zip(axes, BENCHMARK_SPECS):
        assert ax.get_xscale() == "log"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.1"]
        lines = {line.get_color(): line for line in ax.get_lines() if len(line.get_xdata()) == 2}
        rows = primary[primary["benchmark"] == benchmark]
        for method in ("dpo", "is_dpo"):
            means = rows[rows["method"] == method].groupby("beta")["score"].mean()  # over the 2 seeds
            assert list(lines[colors[method]].get_ydata()) == pytest.approx(list(means))
        assert lines[colors["is_dpo"]].get_linestyle() == "--"  # IS dashed, as everywhere
        sft = rows.loc[rows["method"] == "sft", "score"].iloc[0]
        assert any(line.get_ydata()[0] == line.get_ydata()[1] == sft and line.get_color() == "black"
                   for line in ax.get_lines())
        assert ax.patches  # the SFT interval's band
        judge = rows["judge_model"].iloc[0]
        assert panel_notes(ax) == [f"judge: {judge}; {rows['n'].iloc[0]} questions judged"]
    assert legend_labels(fig) == ["DPO", "IS-DPO (ε=1)", "SFT policy", "SFT 90% interval"]
    assert "mean over 2 seeds, bars: ± std over seeds" in fig.get_suptitle()
    assert fig.get_supxlabel() == "β (KL strength, log scale)"


def test_benchmark_scores_keep_each_methods_colour_and_label_without_a_config():
    fig = benchmark_scores(benchmark_rows(methods=("is_dpo", "dpo")), {"methods": []})
    assert legend_labels(fig)[:2] == ["is_dpo", "dpo"]  # raw names, table order
    assert "toy" in fig.get_suptitle()


def test_one_seed_draws_each_scores_interval_and_says_so():
    table = benchmark_rows(seeds=(1,))
    fig = benchmark_scores(table, plot_settings(demo_task()))
    assert_reads(fig)
    assert "one seed per point; bars: the judge's 90% interval" in fig.get_suptitle()
    ax = data_axes(fig)[0]
    segments = [seg for c in ax.collections for seg in c.get_segments()]
    half = BENCHMARK_SPECS[0][-1]  # AlpacaEval's
    assert len(segments) == 4 and all(abs(s[1][1] - s[0][1]) == pytest.approx(2 * half) for s in segments)


BENCHMARK_EDGE_CASES = {
    "a single beta": lambda t: t[t["beta"].isna() | (t["beta"] == 0.1)],
    "a single seed and NaN intervals": lambda t: t[t["seed"] == 1].assign(interval_low=np.nan, interval_high=np.nan),
    "MT-Bench only": lambda t: t[t["benchmark"] == "mt_bench"],
    "Arena-Hard missing": lambda t: t[t["benchmark"] != "arena_hard"],
    "no SFT row": lambda t: t[t["method"] != "sft"],
    "the SFT policy only": lambda t: t[t["method"] == "sft"],
    "a method on one benchmark only": lambda t: t[(t["method"] != "is_dpo") | (t["benchmark"] == "alpaca_eval")],
    "versions read as numbers, the flag as text": lambda t: t.assign(
        version=t["version"].map({"2.0": 2.0, "v0.1": "v0.1", "1": 1}), primary=t["primary"].astype(str)),
}


@pytest.mark.parametrize("case", list(BENCHMARK_EDGE_CASES))
def test_benchmark_scores_edge_cases_draw_a_figure_that_reads(case):
    table = BENCHMARK_EDGE_CASES[case](benchmark_rows())
    fig = benchmark_scores(table, plot_settings(demo_task()))
    assert_reads(fig)
    titles = [ax.get_title() for ax in data_axes(fig)]
    present = [t for t, (b, *_) in zip(BENCHMARK_TITLES, BENCHMARK_SPECS) if b in set(table["benchmark"])]
    assert titles == present
    has_sft = (table["method"] == "sft").any()
    assert ("SFT policy" in legend_labels(fig)) == has_sft
    banded = has_sft and table["interval_low"].notna().any()
    assert ("SFT 90% interval" in legend_labels(fig)) == banded
    assert all(bool(ax.patches) == banded for ax in data_axes(fig))


def test_a_single_beta_and_seed_without_intervals_draws_points_without_bars():
    table = benchmark_rows(betas=(0.1,), seeds=(1,)).assign(interval_low=np.nan, interval_high=np.nan)
    fig = benchmark_scores(table, plot_settings(demo_task()))
    assert "one seed per point (no interval)" in fig.get_suptitle()
    for ax in data_axes(fig):
        assert not [c for c in ax.collections if len(c.get_segments())]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1"]
        low, high = ax.get_xlim()
        assert low < 0.1 < high


def test_failures_are_flagged_in_the_panel_note():
    table = benchmark_rows()
    hit = (table["benchmark"] == "arena_hard") & (table["method"] == "dpo") & (table["beta"] == 0.01)
    table.loc[hit, "failures"] = 3
    fig = benchmark_scores(table, plot_settings(demo_task()))
    assert_reads(fig)
    alpaca, arena, _ = data_axes(fig)
    assert not any("failed" in text for text in panel_notes(alpaca))
    flagged = [t for t in arena.texts if "failed" in t.get_text()]
    assert [t.get_text() for t in flagged] == ["6 failed (not scored) in 2 of 9 policies"]
    judge = next(t for t in arena.texts if t.get_text().startswith("judge: "))
    assert flagged[0].get_color() != judge.get_color()


def test_a_policy_with_nothing_scored_is_a_failure_not_a_point():
    """The table's row for it: no metric, no score, its questions all failures."""
    table = benchmark_rows()
    mt = table[(table["benchmark"] == "mt_bench") & (table["method"] == "dpo") & (table["beta"] == 0.01)
               & (table["seed"] == 2)]
    table = table.drop(mt.index[1:])
    table.loc[mt.index[0], ["metric", "score", "interval_low", "interval_high", "n", "failures"]] = [
        None, np.nan, np.nan, np.nan, 0, 80]
    settings = plot_settings(demo_task())
    fig = benchmark_scores(table, settings)
    assert_reads(fig)
    ax = data_axes(fig)[2]
    assert ax.get_title() == "MT-Bench (1–10)"
    assert panel_notes(ax) == ["judge: gpt-4; 0–80 questions judged", "80 failed (not scored) in 1 of 9 policies"]
    dpo = next(line for line in ax.get_lines() if line.get_color() == method_colors(settings["methods"])["dpo"])
    seed_1 = table.query("benchmark == 'mt_bench' and method == 'dpo' and beta == 0.01 and seed == 1 and primary")
    assert dpo.get_ydata()[0] == pytest.approx(seed_1["score"].iloc[0])  # the other seed alone
    assert "mean over 1–2 seeds" in fig.get_suptitle()


def test_a_point_never_averages_two_regimes():
    table = benchmark_rows()
    other = table.assign(regime="lr 1e-4", score=table["score"] + 50)
    fig = benchmark_scores(pd.concat([other, table]), plot_settings(demo_task()))
    assert "regime default only (of 2)" in fig.get_suptitle()
    assert all(max(line.get_ydata()) < 50 for ax in data_axes(fig) for line in ax.get_lines())


def test_benchmark_scores_without_primary_rows_say_so():
    fig = benchmark_scores(benchmark_rows().assign(primary=False), plot_settings(demo_task()))
    assert any("No benchmark scores" in t.get_text() for ax in fig.axes for t in ax.texts)


# ---------------------------------------------------------------------------- files and the CLI


def test_save_writes_a_pdf_and_a_high_dpi_png_and_closes(tmp_path):
    import matplotlib.pyplot as plt

    tables, settings = CASES["demo"]()
    fig = FIGURES["gold_vs_beta"](tables, settings)
    width, height = fig.get_size_inches()
    save(fig, [tmp_path / "a" / "f.pdf", tmp_path / "a" / "f.png"])
    assert (tmp_path / "a" / "f.pdf").read_bytes()[:5] == b"%PDF-"
    png = (tmp_path / "a" / "f.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (round(width * 200),
                                                                                      round(height * 200))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["f.pdf", "f.png"]  # no temporary left
    fig = plt.figure()
    save(fig, tmp_path / "g.svg")
    assert not plt.fignum_exists(fig.number) and (tmp_path / "g.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("name", list(FIGURES))
def test_cli_draws_every_figure_with_the_configs_labels(tmp_path, monkeypatch, name):
    monkeypatch.chdir(REPO)  # config/config.yaml is the default
    out = tmp_path / f"{name}.png"
    assert main(["plot", "--summary", str(DATA / "summary.csv"), "--figure", name, "--output", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_labels_come_from_the_config_or_stay_raw_without_one(tmp_path, monkeypatch):
    import isdaa.plots

    shown = {}
    original = isdaa.plots.save

    def spy(fig, paths):
        shown[Path(paths[0]).name] = legend_labels(fig)
        original(fig, paths)

    monkeypatch.setattr(isdaa.plots, "save", spy)
    monkeypatch.chdir(REPO)
    main(["plot", "--summary", str(DATA / "summary.csv"), "--output", str(tmp_path / "with.png")])
    monkeypatch.chdir(tmp_path)  # no config/config.yaml here
    main(["plot", "--summary", str(DATA / "summary.csv"), "--output", str(tmp_path / "without.png")])
    assert shown["with.png"][:3] == ["DPO", "IS-DPO (ε=1)", "IPO"]
    assert shown["without.png"][:3] == ["chipo", "dpo", "ipo"]


def test_cli_needs_the_dynamics_tables_only_for_training_dynamics(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "summary.csv").write_text((DATA / "summary.csv").read_text())
    main(["plot", "--summary", str(tmp_path / "summary.csv"), "--figure", "gold_vs_beta",
          "--output", str(tmp_path / "g.png")])
    with pytest.raises(SystemExit, match="dynamics.csv not found: figure training_dynamics needs"):
        main(["plot", "--summary", str(tmp_path / "summary.csv"), "--figure", "training_dynamics",
              "--output", str(tmp_path / "d.png")])
    main(["plot", "--summary", str(tmp_path / "summary.csv"), "--figure", "training_dynamics",
          "--dynamics", str(DATA / "dynamics.csv"), "--train-logs", str(DATA / "train_logs.csv"),
          "--output", str(tmp_path / "d.png")])
    assert (tmp_path / "d.png").exists()
