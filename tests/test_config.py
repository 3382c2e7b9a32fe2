"""Bad configs fail before any work, with a message naming the key and the value."""

import copy
import subprocess

import pytest
import yaml
from conftest import BIN, REPO

from isdaa.config import ConfigError, cell_config, format_beta, grid, validate_config


def test_default_config_is_valid_and_gets_defaults(config):
    validated = validate_config(config)
    assert validated["evaluation"]["temperature"] == 0.7
    assert validated["evaluation"]["top_p"] == 0.95
    assert validated["methods"]["dpo"]["is_eps"] is None
    # Per-method overrides replace the grid's betas for that method only.
    per_method = validated["grid"]["per_method"]
    expected = sum(len(per_method.get(m, {}).get("betas", validated["grid"]["betas"]))
                   * len(per_method.get(m, {}).get("seeds", validated["grid"]["seeds"]))
                   for m in validated["grid"]["methods"])
    assert len(grid(validated)) == expected > len(validated["grid"]["methods"])


def test_toy_full_config_is_valid_and_extends_the_default():
    from isdaa.config import load_config

    full = load_config(REPO / "config" / "toy-full.yaml")
    default = load_config(REPO / "config" / "config.yaml")
    # Same data, SFT and recipe: the default's cells are a subset and are reused.
    for key in ("toy", "model", "sft", "preference_data", "preference_training", "evaluation"):
        assert full[key] == default[key], key
    assert set(grid(default)) <= set(grid(full))
    assert len(full["grid"]["seeds"]) >= 3


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["grid"]["methods"].append("kto"), ["grid.methods[9]", "'kto'", "unknown method"]),
        (lambda c: c["grid"]["per_method"].update(kto={"betas": [1]}), ["grid.per_method.kto", "not in grid.methods"]),
        (lambda c: c["grid"]["per_method"]["dpo"].update(betas=[1, 1.0000000001]),
         ["grid.per_method.dpo.betas[1]", "same folder name"]),
        (lambda c: c["dynamics"].update(betas=[7.0]), ["dynamics", "select no cell"]),
        (lambda c: c["dynamics"]["methods"].append("kto"), ["dynamics.methods[2]", "not in grid.methods"]),
        (lambda c: c["methods"].update(foo={"daa": "kto"}), ["methods.foo.daa", "'kto'"]),
        (lambda c: c["grid"].update(betas=[0.1, 0.0]), ["grid.betas[1]", "0.0"]),
        (lambda c: c["grid"].update(betas=[-1]), ["grid.betas[0]", "-1"]),
        (lambda c: c.update(task="tldr2"), ["task", "'tldr2'"]),
        (lambda c: c.pop("task"), ["'task' is a required property"]),
        (lambda c: c["grid"].pop("seeds"), ["grid", "'seeds' is a required property"]),
        (lambda c: c["methods"]["dpo"].pop("daa"), ["methods.dpo", "'daa' is a required property"]),
        (lambda c: c.update(grdi={}), ["'grdi' was unexpected"]),
        (lambda c: c["sft"].update(learning_rat=0.1), ["config key sft", "'learning_rat' was unexpected"]),
        (lambda c: c["sft"].update(max_steps="400"), ["sft.max_steps", "'400'", "not of type 'integer'"]),
        (lambda c: c["grid"].update(betas="0.1"), ["grid.betas", "'0.1'", "not of type 'array'"]),
        (lambda c: c["methods"]["is_dpo"].update(is_eps=0), ["methods.is_dpo.is_eps", "0"]),
        (lambda c: c["methods"]["dpo"].update(training={"epochs": -2}), ["methods.dpo.training.epochs", "-2"]),
        (lambda c: c["grid"].update(betas=[0.1, 0.1000000001]), ["grid.betas[1]", "same folder name"]),
        (lambda c: c["model"].__setitem__("num_heads", 5) if "model" in c else c.update(model={"num_heads": 5}),
         ["model.num_heads", "5"]),
    ],
)
def test_invalid_config_names_key_and_value(config, edit, expected):
    edit(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    for fragment in expected:
        assert fragment in str(error.value)


def test_cell_config_is_self_contained(config):
    validate_config(config)
    cell = cell_config(config, "is_dpo", format_beta(0.1), 1)
    assert cell["loss"] == {"daa": "dpo", "beta": 0.1, "is_eps": 1.0, "rpo_eta": 0.0, "length_alpha": 0.0,
                            "chi": False, "chi_r": None}
    assert cell_config(config, "chipo", "1", 2)["loss"]["chi_r"] == config["methods"]["chipo"]["chi_r"]
    assert cell["paths"]["model"] == "results/toy/is_dpo/beta0.1/seed1/model"
    assert cell["paths"]["reference_logps"] == "results/toy/reference_logps.parquet"
    assert cell["training"]["learning_rate"] == config["preference_training"]["learning_rate"]


def test_method_training_overrides_only_what_it_names(config):
    config["methods"]["dpo"]["training"] = {"learning_rate": 1e-4}
    validate_config(config)
    cell = cell_config(config, "dpo", "0.1", 1)
    assert cell["training"]["learning_rate"] == 1e-4
    assert cell["training"]["epochs"] == config["preference_training"]["epochs"]


def test_snakemake_rejects_bad_config_before_any_job(tmp_path, config):
    config["grid"]["betas"] = [0.1, -0.5]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run(
        [BIN / "snakemake", "-s", REPO / "Snakefile", "-d", tmp_path, "--configfile", path, "--cores", "1"],
        capture_output=True, text=True,
    )
    assert out.returncode != 0
    assert "grid.betas[1] = -0.5" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_format_beta_is_stable_across_spellings():
    assert format_beta(0.05) == format_beta(5e-2) == "0.05"
    assert format_beta(1.0) == format_beta(1) == "1"
    assert copy.copy(format_beta(3.0)) == "3"
