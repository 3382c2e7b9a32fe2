"""The preference trainer on a tiny model: every method trains, NaNs stop the run
with a useful error, and a killed run resumes to the same result."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import default_config
from safetensors.torch import load_file

from isdaa import distributed, modeling, runtime
from isdaa.checkpoints import build_causal_lm
from isdaa.config import cell_config, snapshot_epochs, snapshot_name, task_config, validate_config
from isdaa.io import write_parquet
from isdaa.logprobs import sequence_logps
from isdaa.losses import DAA_LOSSES
from isdaa.preference_training import build_trainer, last_checkpoint, train_cell
from isdaa.tasks import toy
from isdaa.tokenization import encode_prompts

N_PAIRS = 64


def build_world(root, n_pairs: int, behavior: bool = True):
    """A tiny SFT model, `n_pairs` toy pairs (token ids), with behaviour log-probs unless
    `behavior` is false, and the shared reference log-probs, under `root`."""
    runtime.setup(1, 0)
    tokenizer = toy.build_tokenizer()
    settings = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_positions": 64}
    model = build_causal_lm(tokenizer, settings, seed=0, disallowed_token_ids=toy.disallowed_response_tokens(tokenizer))
    modeling.save(model, tokenizer, root / "sft")
    records = toy.generate_split(0, "sft", 2 * n_pairs, toy.ToySettings(), with_demos=True)
    prompts = encode_prompts(tokenizer, [r["prompt"] for r in records[:n_pairs]], "raw")
    completions = tokenizer([r["completion"] for r in records], add_special_tokens=False)["input_ids"]
    chosen, rejected = completions[:n_pairs], completions[n_pairs:]  # another prompt's summary
    ref_c = sequence_logps(model, prompts, chosen, pad_token_id=tokenizer.pad_token_id)
    ref_r = sequence_logps(model, prompts, rejected, pad_token_id=tokenizer.pad_token_id)
    prefs = pd.DataFrame({"pair_id": np.arange(n_pairs), "prompt_ids": prompts, "chosen_ids": chosen,
                          "rejected_ids": rejected})
    if behavior:
        # a behaviour policy that differs from the reference, so importance weights vary
        prefs["behavior_chosen_logp"] = ref_c + np.linspace(-1, 1, n_pairs)
        prefs["behavior_rejected_logp"] = ref_r
    write_parquet(prefs, root / "preferences.parquet")
    write_parquet(pd.DataFrame({"pair_id": prefs["pair_id"], "reference_chosen_logp": ref_c,
                                "reference_rejected_logp": ref_r}), root / "reference_logps.parquet")
    return root, task_config(validate_config(default_config()), "toy")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny SFT model, 64 toy pairs (token ids) with behaviour log-probs, and the shared
    reference log-probs."""
    return build_world(tmp_path_factory.mktemp("world"), N_PAIRS)


EXECUTION = ("per_device_batch_size", "logging_steps", "save_steps", "report_to", "distributed", "logging_dir")


def make_cell(world, method, out, **settings):
    """A cell of the tiny world; `settings` go to its training section, or to its
    execution section for the execution keys."""
    root, task = world
    cell = cell_config(task, method, "0.1", 1)
    settings = {"batch_size": 16, "epochs": 0.5, "logging_steps": 1, "save_steps": 2, **settings}
    cell["training"].update({k: v for k, v in settings.items() if k not in EXECUTION})
    cell["execution"] = {k: v for k, v in settings.items() if k in EXECUTION}
    cell["paths"].update(sft_model=str(root / "sft"), preferences=str(root / "preferences.parquet"),
                         reference_logps=str(root / "reference_logps.parquet"), model=str(out / "model"),
                         train_log=str(out / "train_log.csv"), checkpoints=str(out / "checkpoints"),
                         snapshots=str(out / "snapshots"))
    return cell


def sequence_logp_by_hand(model, prompt, response, disallowed) -> torch.Tensor:
    """log pi(response | prompt) from one unpadded forward pass, token by token."""
    ids = torch.tensor([list(prompt) + list(response)])
    logits = model(input_ids=ids).logits[0, :-1].float()
    logits[:, disallowed] = float("-inf")
    logps = logits.log_softmax(-1)
    return sum(logps[len(prompt) - 1 + t, token] for t, token in enumerate(response))


@pytest.mark.parametrize("behavior", ["recorded", "reference"])
def test_compute_loss_on_a_collated_batch_matches_the_equation_by_hand(world, tmp_path, behavior):
    """The whole trainer path (dataset, collator, compute_loss) against IS-DPO written out
    pair by pair: swapping chosen and rejected, or the reference or behaviour columns,
    anywhere in that path fails here. `behavior: reference` ignores the recorded
    behaviour log-probs: the reference policy is the behaviour policy."""
    root, _ = world
    cell = make_cell(world, "is_dpo", tmp_path)
    cell["behavior"] = behavior
    trainer = build_trainer(cell)
    assert trainer.behavior_used == behavior
    rows = [trainer.train_dataset[i] for i in (0, 5, 17, 40)]
    batch = trainer.data_collator(rows)
    model = trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
        prefs = pd.read_parquet(root / "preferences.parquet").set_index("pair_id")
        ref = pd.read_parquet(root / "reference_logps.parquet").set_index("pair_id")
        disallowed = modeling.disallowed_tokens(model)
        beta, eps = cell["loss"]["beta"], cell["loss"]["is_eps"]
        expected = []
        for i in (0, 5, 17, 40):
            pair = prefs.loc[i]
            pc = sequence_logp_by_hand(model, pair["prompt_ids"], pair["chosen_ids"], disallowed)
            pr = sequence_logp_by_hand(model, pair["prompt_ids"], pair["rejected_ids"], disallowed)
            rc, rr = ref.loc[i, "reference_chosen_logp"], ref.loc[i, "reference_rejected_logp"]
            bc, br = (pair["behavior_chosen_logp"], pair["behavior_rejected_logp"]) if behavior == "recorded" \
                else (rc, rr)
            w = torch.exp(torch.clamp((pc - bc) + (pr - br), max=2 * eps))
            expected.append(w * -torch.nn.functional.logsigmoid(beta * ((pc - pr) - (rc - rr))))
    assert float(loss) == pytest.approx(float(sum(expected) / len(expected)), rel=1e-5)
    if behavior == "recorded":
        # The weights really vary (behaviour != reference) and the preference is not symmetric.
        assert len({round(float(e), 4) for e in expected}) == len(expected)
    else:
        # The policy is the reference here: every weight is 1, where the recorded ones vary.
        assert float(loss) == pytest.approx(float(np.log(2)), rel=1e-5)


@pytest.mark.parametrize("method", sorted(default_config()["methods"]))
def test_every_configured_method_trains_and_logs(world, method, tmp_path):
    cell = make_cell(world, method, tmp_path)
    result = train_cell(cell)
    assert result["steps"] == 2
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert len(log) == 2 and np.isfinite(log["train_loss"]).all()
    assert np.isfinite(log[["grad_norm", "rewards_margin", "logps_chosen", "logps_rejected"]]).all().all()
    weighted = cell["loss"]["is_eps"] is not None
    assert weighted == (not np.allclose(log["is_weight_mean"], 1.0))
    assert (tmp_path / "model" / "model.safetensors").exists() and not (tmp_path / "checkpoints").exists()


@pytest.fixture(scope="module")
def world_without_behavior(tmp_path_factory):
    """The tiny world with pairs that record no behaviour log-probs (as most hub sets)."""
    return build_world(tmp_path_factory.mktemp("world_without_behavior"), 16, behavior=False)


def test_recorded_behavior_that_the_pairs_lack_fails_before_training(world_without_behavior, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(modeling, "load_policy", fail_if_called)
    cell = make_cell(world_without_behavior, "is_dpo", tmp_path)
    with pytest.raises(ValueError, match="carry no behaviour log-probs.*set preference_data.behavior: reference"):
        train_cell(cell)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("method,behavior,used", [("is_dpo", "reference", "reference"), ("dpo", "recorded", "none")])
def test_behavior_used_is_reported(world_without_behavior, tmp_path, method, behavior, used):
    cell = make_cell(world_without_behavior, method, tmp_path)
    cell["behavior"] = behavior
    assert train_cell(cell)["behavior_used"] == used


def fail_if_called(*args, **kwargs):
    raise AssertionError("the model was loaded before the bad setting was found")


def test_execution_keys_left_under_training_are_refused(world, tmp_path, monkeypatch):
    """A config.yaml written before batch_size became the global batch: its accumulation
    would otherwise be silently dropped."""
    monkeypatch.setattr(modeling, "load_policy", fail_if_called)
    cell = make_cell(world, "dpo", tmp_path)
    cell["training"]["gradient_accumulation_steps"] = 2
    with pytest.raises(ValueError, match="training.gradient_accumulation_steps is no longer a training setting"):
        train_cell(cell)


def test_a_tracker_that_is_not_installed_fails_before_the_model_loads(world, tmp_path, monkeypatch):
    monkeypatch.setattr(modeling, "load_policy", fail_if_called)
    monkeypatch.setattr(distributed.importlib.util, "find_spec", lambda name, *a: None)
    cell = make_cell(world, "dpo", tmp_path, report_to=["tensorboard"])
    with pytest.raises(ValueError, match=r"preference_training.report_to: 'tensorboard' is asked for but not "
                                         r"installed \(pip install tensorboard\)"):
        train_cell(cell)
    with pytest.raises(ValueError, match="sft.report_to: unknown tracker 'mlflow'"):
        distributed.check_report_to(["mlflow"], "sft.report_to")
    assert distributed.check_report_to([], "x") == []


FAKE_TENSORBOARD = """
import json, os
class SummaryWriter:
    def __init__(self, log_dir=None, **kwargs):
        os.makedirs(log_dir, exist_ok=True)
        self.file = open(os.path.join(log_dir, "scalars.jsonl"), "a")
    def add_text(self, *args, **kwargs):
        pass
    def add_scalar(self, tag, value, step):
        self.file.write(json.dumps([tag, value, step]) + "\\n")
    def flush(self):
        self.file.flush()
    def close(self):
        self.file.close()
"""


def test_report_to_tensorboard_logs_into_the_cells_tensorboard_folder(world, tmp_path, monkeypatch):
    """Through transformers' TensorBoard callback, with a stand-in writer module
    (tensorboard is not installed here): the folder and the logged values."""
    (tmp_path / "fake" / "tensorboardX").mkdir(parents=True)
    (tmp_path / "fake" / "tensorboardX" / "__init__.py").write_text(FAKE_TENSORBOARD)
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    board = tmp_path / "results" / "toy" / "tensorboard" / "dpo" / "beta0.1" / "seed1"
    cell = make_cell(world, "dpo", tmp_path / "cell", report_to=["tensorboard"], logging_dir=str(board))
    train_cell(cell)
    rows = [json.loads(line) for line in (board / "scalars.jsonl").read_text().splitlines()]
    losses = [value for tag, value, step in rows if tag == "train/loss"]
    log = pd.read_csv(tmp_path / "cell" / "train_log.csv")
    assert losses == pytest.approx(list(log["train_loss"]))


def test_non_finite_loss_names_step_and_method_and_keeps_last_checkpoint(world, tmp_path, monkeypatch):
    calls = {"n": 0}

    def explodes(h, beta):
        calls["n"] += 1
        loss = -torch.nn.functional.logsigmoid(beta * h)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setitem(DAA_LOSSES, "explodes", explodes)
    cell = make_cell(world, "dpo", tmp_path, epochs=1)
    cell["loss"]["daa"] = "explodes"
    cell["method"] = "my_method"
    with pytest.raises(FloatingPointError, match="method 'my_method'.*at step 3"):
        train_cell(cell)
    assert last_checkpoint(tmp_path / "checkpoints").endswith("checkpoint-2")
    assert not (tmp_path / "model").exists()


def run_cli(cell_path, out, **popen):
    return subprocess.Popen([sys.executable, "-m", "isdaa", "train", "--config", cell_path, "--output-dir", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)


def test_killed_run_resumes_from_checkpoint_to_the_same_weights(world, tmp_path):
    # 64 pairs / batch 8 = 8 steps per epoch: 320 steps, a checkpoint every 40.
    cell = make_cell(world, "is_dpo", tmp_path, batch_size=8, epochs=40, save_steps=40, logging_steps=20,
                     snapshots_per_epoch=1)
    cell_path = tmp_path / "cell.yaml"
    cell_path.write_text(yaml.safe_dump(cell))
    env = dict(os.environ, OMP_NUM_THREADS="1")

    assert run_cli(cell_path, tmp_path / "whole", env=env).wait(timeout=300) == 0
    assert yaml.safe_load((tmp_path / "whole" / "config.yaml").read_text())["behavior_used"] == "recorded"

    killed = tmp_path / "killed"
    proc = run_cli(cell_path, killed, env=env)
    first = killed / "checkpoints" / "checkpoint-80" / "trainer_state.json"
    deadline = time.time() + 240
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists(), "the run finished before it could be killed"
    resumed_from = last_checkpoint(killed / "checkpoints")
    assert resumed_from is not None and not resumed_from.endswith("checkpoint-320")

    assert run_cli(cell_path, killed, env=env).wait(timeout=300) == 0
    whole = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    resumed = load_file(killed / "model" / "model.safetensors")
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole" / "train_log.csv"),
                                  pd.read_csv(killed / "train_log.csv"))
    # Snapshots made before the kill survive it; those after it are made by the rerun.
    names = sorted(p.name for p in (tmp_path / "whole" / "snapshots").iterdir())
    assert names == sorted(p.name for p in (killed / "snapshots").iterdir()) and len(names) == 39
    for name in ("epoch1", "epoch39"):
        a = load_file(tmp_path / "whole" / "snapshots" / name / "model.safetensors")
        b = load_file(killed / "snapshots" / name / "model.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_snapshots_are_the_policy_at_their_step(world, tmp_path):
    # 64 pairs / batch 16 = 4 steps per epoch; 2 epochs, 2 snapshots per epoch.
    cell = make_cell(world, "dpo", tmp_path, epochs=2, snapshots_per_epoch=2)
    train_cell(cell)
    snapshots = tmp_path / "snapshots"
    assert sorted(p.name for p in snapshots.iterdir()) == ["epoch0.5", "epoch1", "epoch1.5"]
    assert json.loads((snapshots / "epoch1.5" / "snapshot.json").read_text()) == {"epoch": 1.5, "step": 6}
    late = load_file(snapshots / "epoch1.5" / "model.safetensors")
    final = load_file(tmp_path / "model" / "model.safetensors")
    assert any(not torch.equal(late[k], final[k]) for k in final)  # training went on after the snapshot


def test_snapshot_points():
    assert snapshot_epochs(2, 2) == [0.5, 1.0, 1.5]
    assert snapshot_epochs(3, 1) == [1.0, 2.0]
    assert snapshot_epochs(0.5, 1) == [] and snapshot_epochs(1.5, 1) == [1.0]
    assert snapshot_name(1.0) == "epoch1" and snapshot_name(0.25) == "epoch0.25"
