"""Bad configs fail before any work, with a message naming the key and the value."""

import copy
import subprocess

import pytest
import yaml
from conftest import BIN, REPO

from isdaa.config import (ConfigError, cell_config, format_beta, grid, load_config, rule_resources, task_config,
                          validate_config)


def toy(config):
    return config["tasks"]["toy"]


def test_default_config_is_valid_and_gets_defaults(config):
    validated = validate_config(config)
    task = task_config(validated, "toy")
    assert task["evaluation"]["temperature"] == 0.7 and task["evaluation"]["top_p"] == 0.95
    assert task["methods"]["dpo"]["is_eps"] is None
    assert validated["headline_task"] == "toy"
    # Per-method overrides replace the grid's betas for that method only.
    g = task["grid"]
    expected = sum(len(g["per_method"].get(m, {}).get("betas", g["betas"]))
                   * len(g["per_method"].get(m, {}).get("seeds", g["seeds"])) for m in g["methods"])
    assert len(grid(task)) == expected > len(g["methods"])


def test_toy_full_config_is_valid_and_extends_the_default():
    full = task_config(load_config(REPO / "config" / "toy-full.yaml"), "toy")
    default = task_config(load_config(REPO / "config" / "config.yaml"), "toy")
    # Same data, model, SFT, sampling and recipe: the default's cells are a subset and are reused.
    for key in ("data", "model", "gold", "sft", "sampling", "preference_data", "preference_training", "evaluation"):
        assert full[key] == default[key], key
    assert set(grid(default)) <= set(grid(full))
    assert len(full["grid"]["seeds"]) >= 3


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: toy(c)["grid"]["methods"].append("kto"), ["tasks.toy.grid.methods[9]", "'kto'", "unknown method"]),
        (lambda c: toy(c)["grid"]["per_method"].update(kto={"betas": [1]}),
         ["tasks.toy.grid.per_method.kto", "not in grid.methods"]),
        (lambda c: toy(c)["grid"]["per_method"]["dpo"].update(betas=[1, 1.0000000001]),
         ["tasks.toy.grid.per_method.dpo.betas[1]", "same folder name"]),
        (lambda c: toy(c)["dynamics"].update(betas=[7.0]), ["tasks.toy.dynamics", "select no cell"]),
        (lambda c: toy(c)["dynamics"]["methods"].append("kto"), ["tasks.toy.dynamics.methods[2]", "not in grid"]),
        (lambda c: c["methods"].update(foo={"daa": "kto"}), ["methods.foo.daa", "'kto'"]),
        (lambda c: toy(c)["grid"].update(betas=[0.1, 0.0]), ["tasks.toy.grid.betas[1]", "0.0"]),
        (lambda c: toy(c)["grid"].update(betas=[-1]), ["tasks.toy.grid.betas[0]", "-1"]),
        (lambda c: c.pop("tasks"), ["'tasks' is a required property"]),
        (lambda c: toy(c)["grid"].pop("seeds"), ["tasks.toy.grid", "'seeds' is a required property"]),
        (lambda c: c["methods"]["dpo"].pop("daa"), ["methods.dpo", "'daa' is a required property"]),
        (lambda c: c.update(grdi={}), ["'grdi' was unexpected"]),
        (lambda c: toy(c)["sft"].update(learning_rat=0.1), ["config key tasks.toy.sft", "'learning_rat' was unexp"]),
        (lambda c: toy(c)["sft"].update(max_steps="400"), ["tasks.toy.sft.max_steps", "'400'", "not of type"]),
        (lambda c: toy(c)["grid"].update(betas="0.1"), ["tasks.toy.grid.betas", "'0.1'", "not of type 'array'"]),
        (lambda c: c["methods"]["is_dpo"].update(is_eps=0), ["methods.is_dpo.is_eps", "0"]),
        (lambda c: c["methods"]["dpo"].update(training={"epochs": -2}), ["methods.dpo.training.epochs", "-2"]),
        (lambda c: toy(c)["grid"].update(betas=[0.1, 0.1000000001]), ["tasks.toy.grid.betas[1]", "same folder"]),
        (lambda c: toy(c)["model"]["build"].update(num_heads=5), ["tasks.toy.model.build.num_heads", "5"]),
        # YAML reads 1e-2 as text: say what is meant.
        (lambda c: toy(c)["preference_training"].update(learning_rate="1e-2"),
         ["tasks.toy.preference_training.learning_rate", "'1e-2'", "1.0e-2 or 0.01"]),
        (lambda c: toy(c)["data"].update(nope={}), ["tasks.toy.data", "'nope' was unexpected"]),
        (lambda c: toy(c)["model"].update(path="no/such/folder/x"), ["tasks.toy.model", "exactly one of"]),
        (lambda c: c.update(headline_task="tldr"), ["headline_task", "'tldr'", "not a task"]),
        (lambda c: c["tasks"].update(other=copy.deepcopy(toy(c))), ["headline_task", "required with several tasks"]),
        (lambda c: toy(c).update(gold={"type": "reward_model"}), ["tasks.toy.gold", "needs `path`"]),
    ],
)
def test_invalid_config_names_key_and_value(config, edit, expected):
    edit(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    for fragment in expected:
        assert fragment in str(error.value)


def test_a_task_method_overrides_a_shared_one_and_errors_name_it(config):
    toy(config)["methods"] = {"is_dpo": {"daa": "dpo", "is_eps": 0.5}}
    task = task_config(validate_config(copy.deepcopy(config)), "toy")
    assert task["methods"]["is_dpo"]["is_eps"] == 0.5 and "label" not in task["methods"]["is_dpo"]
    toy(config)["methods"]["is_dpo"]["is_eps"] = -1
    with pytest.raises(ConfigError, match=r"tasks\.toy\.methods\.is_dpo\.is_eps"):
        validate_config(config)


def test_numbers_are_numbers_whatever_their_spelling(config):
    a, b = copy.deepcopy(config), copy.deepcopy(config)
    toy(b)["preference_training"]["epochs"] = 2.0  # the default config writes 2
    toy(b)["preference_training"]["max_grad_norm"] = 1  # the schema default is 1.0
    toy(a)["preference_training"]["max_grad_norm"] = 1.0
    ta, tb = task_config(validate_config(a), "toy"), task_config(validate_config(b), "toy")
    assert repr(cell_config(ta, "dpo", "0.1", 1)) == repr(cell_config(tb, "dpo", "0.1", 1))


def test_cell_config_is_self_contained_and_holds_no_evaluation_settings(config):
    task = task_config(validate_config(config), "toy")
    cell = cell_config(task, "is_dpo", format_beta(0.1), 1)
    assert cell["loss"] == {"daa": "dpo", "beta": 0.1, "is_eps": 1.0, "rpo_eta": 0.0, "length_alpha": 0.0,
                            "chi": False, "chi_r": None}
    assert cell_config(task, "chipo", "1", 2)["loss"]["chi_r"] == task["methods"]["chipo"]["chi_r"]
    assert cell["paths"]["model"] == "results/toy/is_dpo/beta0.1/seed1/model"
    assert cell["paths"]["reference_logps"] == "results/toy/reference_logps.parquet"
    assert cell["training"]["learning_rate"] == task["preference_training"]["learning_rate"]
    assert "evaluation" not in cell and cell["model"]["prompt_format"] == "raw"


def test_method_training_overrides_only_what_it_names(config):
    config["methods"]["dpo"]["training"] = {"learning_rate": 1e-4}
    task = task_config(validate_config(config), "toy")
    cell = cell_config(task, "dpo", "0.1", 1)
    assert cell["training"]["learning_rate"] == 1e-4
    assert cell["training"]["epochs"] == task["preference_training"]["epochs"]


def test_model_checkpoints_are_checked_before_any_job(config, tmp_path, smollm2_tokenizer_dir, tiny_chat_policy_dir):
    def invalid(model, *fragments, prompt_format=None):
        bad = copy.deepcopy(config)
        toy(bad)["model"] = dict(model, **({"prompt_format": prompt_format} if prompt_format else {}))
        toy(bad)["gold"] = {"type": "toy"}
        with pytest.raises(ConfigError) as error:
            validate_config(bad)
        for fragment in fragments:
            assert fragment in str(error.value)

    invalid({"path": str(tmp_path / "missing")}, "tasks.toy.model.path", "missing", "no such folder")
    (tmp_path / "empty").mkdir()
    invalid({"path": str(tmp_path / "empty")}, "tasks.toy.model.path", "no config.json")
    # A tokenizer without a chat template cannot serve the chat format.
    no_template = tmp_path / "no-template"
    no_template.mkdir()
    for f in smollm2_tokenizer_dir.iterdir():
        if f.name != "chat_template.jinja":
            (no_template / f.name).write_bytes(f.read_bytes())
    invalid({"path": str(tiny_chat_policy_dir), "tokenizer": str(no_template)}, "tasks.toy.model.tokenizer",
            "no chat template", prompt_format="chat")
    ok = copy.deepcopy(config)
    toy(ok)["model"] = {"path": str(tiny_chat_policy_dir), "prompt_format": "chat"}
    validate_config(ok)


def test_snakemake_rejects_bad_config_before_any_job(tmp_path, config):
    toy(config)["grid"]["betas"] = [0.1, -0.5]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run(
        [BIN / "snakemake", "-s", REPO / "Snakefile", "-d", tmp_path, "--configfile", path, "--cores", "1"],
        capture_output=True, text=True,
    )
    assert out.returncode != 0
    assert "tasks.toy.grid.betas[1] = -0.5" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_format_beta_is_stable_across_spellings():
    assert format_beta(0.05) == format_beta(5e-2) == "0.05"
    assert format_beta(1.0) == format_beta(1) == "1"
    assert copy.copy(format_beta(3.0)) == "3"


def test_an_unusable_sampling_backend_or_reward_model_fails_before_any_job(config, monkeypatch, tmp_path,
                                                                           tiny_chat_policy_dir, tiny_reward_model_dir):
    import json
    import shutil

    chat = copy.deepcopy(config)
    toy(chat)["model"] = {"path": str(tiny_chat_policy_dir), "prompt_format": "chat"}
    toy(chat)["gold"] = {"type": "reward_model", "path": str(tiny_reward_model_dir)}
    toy(chat)["sampling"] = {"backend": "vllm"}
    monkeypatch.setattr("isdaa.sampling.vllm_available", lambda: False)
    with pytest.raises(ConfigError, match=r"tasks\.toy\.sampling\.backend = 'vllm': vLLM is not installed"):
        validate_config(copy.deepcopy(chat))
    monkeypatch.setattr("isdaa.sampling.vllm_available", lambda: True)
    validate_config(copy.deepcopy(chat))
    toy_vllm = copy.deepcopy(config)
    toy(toy_vllm)["sampling"] = {"backend": "vllm"}
    with pytest.raises(ConfigError, match="the toy model masks tokens"):
        validate_config(toy_vllm)
    # A reward model whose head is not a single score.
    two = tmp_path / "two-label-rm"
    shutil.copytree(tiny_reward_model_dir, two)
    model_config = json.loads((two / "config.json").read_text())
    model_config.update(num_labels=2, id2label={"0": "a", "1": "b"}, label2id={"a": 0, "b": 1})
    (two / "config.json").write_text(json.dumps(model_config))
    toy(chat)["gold"]["path"] = str(two)
    with pytest.raises(ConfigError) as error:
        validate_config(chat)
    assert "tasks.toy.gold" in str(error.value) and str(two) in str(error.value)


def test_resources_come_per_task_and_per_rule_with_the_top_level_as_default(config):
    second = copy.deepcopy(toy(config))
    second["resources"] = {"mem_mb": 64000, "gpu": 1, "per_rule": {"train_preference": {"gpu": 4, "runtime": 720}}}
    config["tasks"]["big"] = second
    config["headline_task"] = "toy"
    config["resources"] = {"runtime": 45, "per_rule": {"aggregate": {"mem_mb": 500}}}
    validated = validate_config(config)
    assert rule_resources(validated, "toy", "train_preference") == {"mem_mb": 2000, "runtime": 45, "gpu": 0}
    assert rule_resources(validated, "big", "train_preference") == {"mem_mb": 64000, "runtime": 720, "gpu": 4}
    assert rule_resources(validated, "big", "sample") == {"mem_mb": 64000, "runtime": 45, "gpu": 1}
    # CPU-only rules ask for no GPU, whatever the task's default; a task's section wins over the top level's.
    assert rule_resources(validated, "toy", "aggregate") == {"mem_mb": 500, "runtime": 45}
    assert rule_resources(validated, "big", "aggregate") == {"mem_mb": 64000, "runtime": 45}
    bad = copy.deepcopy(config)
    bad["tasks"]["big"]["resources"]["per_rule"]["train"] = {"gpu": 2}
    with pytest.raises(ConfigError, match=r"config key tasks\.big\.resources\.per_rule\.train: not a rule with "
                                          r"resources"):
        validate_config(bad)


def test_a_jobs_resources_follow_its_task(tmp_path, config):
    config["tasks"]["toy"]["resources"] = {"per_rule": {"train_preference": {"mem_mb": 3456, "runtime": 7}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run([BIN / "snakemake", "-s", REPO / "Snakefile", "-d", tmp_path, "--configfile", path, "-n",
                          "results/toy/dpo/beta1/seed1/model"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    train = out.stdout[out.stdout.index("rule train_preference:"):]
    assert "mem_mb=3456" in train.split("\n\n")[0] and "runtime=7" in train.split("\n\n")[0]
