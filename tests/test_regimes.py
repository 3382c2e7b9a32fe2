"""Regimes: a grid dimension of named training and data overrides (config, layout, cache)."""

import copy
import re

import numpy as np
import pytest
import yaml
from conftest import REPO

from isdaa.config import (
    ConfigError,
    cell_config,
    grid,
    load_config,
    regime_map_settings,
    studies,
    task_cells,
    task_config,
    task_figures,
    validate_config,
)
from isdaa.gold import LengthPenalized, ToyScorer, make_scorer
from isdaa.layout import Layout, parse_study, study_name
from isdaa.plots import FIGURES

SMOKE_MAP = yaml.safe_load((REPO / "tests" / "configs" / "smoke-regime-map.yaml").read_text())


def toy(config):
    return task_config(validate_config(copy.deepcopy(config)), "toy")


def test_a_config_without_regimes_is_one_default_regime_in_the_task_folder(config):
    task = toy(config)
    (study,) = studies(task).values()
    assert study["regime"] == "default" and study["study"] == study["data_study"] == "toy"
    assert grid(study) == grid(task) and all(c.task == "toy" and c.regime == "default" for c in grid(task))
    cell = cell_config(task, "dpo", "0.1", 1)
    # The settings (and so the cache) of a cell made before regimes existed: no regime key.
    assert "regime" not in cell
    assert cell["paths"]["model"] == "results/toy/dpo/beta0.1/seed1/model"
    assert cell["paths"]["preferences"] == "results/toy/data/preferences.parquet"
    assert "regime_map" not in task_figures(task, FIGURES) and "kl_tradeoff" in task_figures(task, FIGURES)


def test_regimes_merge_their_sections_and_share_data_when_their_data_sections_agree():
    config = copy.deepcopy(SMOKE_MAP)
    config["tasks"]["toy"]["regimes"]["slow_penalised"] = {"gold": {"length_penalty": 0.5},
                                                            "preference_training": {"learning_rate": 1.0e-5}}
    runs = studies(toy(config))
    assert list(runs) == ["toy/regimes/fast", "toy/regimes/length_penalty", "toy/regimes/slow_penalised"]
    fast, penalised, slow = runs.values()
    assert fast["preference_training"]["learning_rate"] == 6e-4 and fast["preference_training"]["epochs"] == 1
    # Training-only regimes train on the task's pairs; equal data overrides share the first one's.
    assert fast["data_study"] == "toy"
    assert penalised["data_study"] == slow["data_study"] == "toy/regimes/length_penalty"
    assert slow["gold"]["type"] == "toy" and slow["gold"]["length_penalty"] == 0.5
    cell = cell_config(slow, "dpo", "0.1", 1)
    assert cell["regime"] == "slow_penalised" and cell["training"]["learning_rate"] == 1e-5
    assert cell["paths"]["model"] == "results/toy/regimes/slow_penalised/dpo/beta0.1/seed1/model"
    assert cell["paths"]["preferences"] == "results/toy/regimes/length_penalty/data/preferences.parquet"
    assert cell["paths"]["sft_model"] == "results/toy/sft/model"
    assert len(task_cells(toy(config))) == 3 * 3 * 2


def test_a_regime_may_narrow_the_grid_and_the_task_shows_the_regime_map():
    config = copy.deepcopy(SMOKE_MAP)
    config["tasks"]["toy"]["regimes"]["length_penalty"]["grid"] = {"methods": ["dpo", "is_dpo_token"]}
    task = toy(config)
    assert len(task_cells(task)) == 6 + 4
    assert task_figures(task, FIGURES) == ["regime_map"]
    settings = regime_map_settings(task)
    assert settings["regimes"] == [{"name": "fast", "label": "lr 6e-4"},
                                   {"name": "length_penalty", "label": "gold − 0.5/word"}]
    assert settings["regime_pairs"] == [{"method": "dpo_copy", "baseline": "dpo"},
                                        {"method": "is_dpo_token", "baseline": "dpo"}]


def test_the_regime_map_config_pairs_every_variant_with_its_baseline():
    task = task_config(load_config(REPO / "config" / "regime-map.yaml"), "toy")
    pairs = {p["method"]: p["baseline"] for p in regime_map_settings(task)["regime_pairs"]}
    assert pairs == {"is_dpo": "dpo", "is_dpo_eps0.5": "dpo", "is_dpo_token": "dpo", "is_dpo_two_sided": "dpo",
                     "is_dpo_batch_mean": "dpo", "is_ipo": "ipo", "is_slic": "slic"}
    runs = studies(task)
    # The `default` regime is the study's own recipe in the task's folders.
    assert runs["toy"]["preference_training"] == task["preference_training"]
    lrs = {s["preference_training"]["learning_rate"] for s in runs.values()}
    epochs = {s["preference_training"]["epochs"] for s in runs.values()}
    assert lrs == {1e-4, 6e-4} and epochs == {1.0, 2.0}
    assert all(len({c.seed for c in grid(s)}) == 3 and len({c.beta for c in grid(s)}) == 3 for s in runs.values())


@pytest.mark.parametrize("edit, key", [
    (lambda r: r["fast"]["preference_training"].update(learning_rat=1), "tasks.toy.regimes.fast.preference_training"),
    (lambda r: r["fast"]["preference_training"].update(epochs=-1), "tasks.toy.regimes.fast.preference_training.epochs"),
    (lambda r: r["fast"].update(sft={"max_steps": 3}), "tasks.toy.regimes.fast"),
    (lambda r: r["length_penalty"]["gold"].update(length_penalty=-1), "tasks.toy.regimes.length_penalty.gold"),
    (lambda r: r["fast"].update(grid={"methods": ["dpo", "nope"]}), "tasks.toy.regimes.fast.grid.methods[1]"),
    (lambda r: r.update({"default": {"preference_data": {"temperature": 0.7}}}), "tasks.toy.regimes.default"),
    (lambda r: r.update({"bad/name": {}}), "tasks.toy.regimes"),
])
def test_a_bad_regime_names_its_key(edit, key):
    config = copy.deepcopy(SMOKE_MAP)
    edit(config["tasks"]["toy"]["regimes"])
    with pytest.raises(ConfigError, match="config key " + re.escape(key)):
        validate_config(config)


def test_regime_map_pairs_must_name_grid_methods():
    config = copy.deepcopy(SMOKE_MAP)
    config["tasks"]["toy"]["regime_map"]["pairs"] = {"is_dpo_token": "ipo"}
    with pytest.raises(ConfigError, match=r"regime_map\.pairs\.is_dpo_token: 'ipo'"):
        validate_config(config)


def test_loss_options_at_their_defaults_leave_a_cells_settings_unchanged(config):
    before = cell_config(toy(config), "is_dpo", "0.1", 1)
    config["methods"]["is_dpo"].update(is_weights="sequence", is_clip="upper", is_normalize="none")
    assert cell_config(toy(config), "is_dpo", "0.1", 1) == before
    config["methods"]["is_dpo"]["is_weights"] = "token"
    assert cell_config(toy(config), "is_dpo", "0.1", 1)["loss"]["is_weights"] == "token"


def test_loss_options_need_importance_sampling(config):
    config["methods"]["dpo"]["is_clip"] = "two_sided"
    with pytest.raises(ConfigError, match=r"config key methods\.dpo\.is_clip"):
        validate_config(config)


def test_study_folders_round_trip():
    assert study_name("toy", "default") == "toy" and parse_study("toy") == ("toy", "default")
    assert parse_study(study_name("toy", "lr1e-4_ep1")) == ("toy", "lr1e-4_ep1")
    assert Layout().cell("model", "toy/regimes/fast", "dpo", "0.1", 1) == "results/toy/regimes/fast/dpo/beta0.1/seed1/model"


def test_the_length_penalty_subtracts_per_response_word():
    prompts = ["a b a b | ", "a b a b | "]
    responses, finished = ["a b", "a b c d"], [True, True]
    plain = ToyScorer().score(prompts, responses, finished)
    penalised = make_scorer({"type": "toy", "length_penalty": 0.5}).score(prompts, responses, finished)
    assert isinstance(make_scorer({"type": "toy", "length_penalty": 0.5}), LengthPenalized)
    np.testing.assert_allclose(penalised, plain - 0.5 * np.array([2, 4]))
    assert isinstance(make_scorer({"type": "toy"}), ToyScorer)
