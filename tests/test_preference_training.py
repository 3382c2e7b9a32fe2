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

from isdaa import modeling, runtime
from isdaa.config import cell_config, snapshot_epochs, snapshot_name, validate_config
from isdaa.io import write_parquet
from isdaa.logprobs import score_responses
from isdaa.losses import DAA_LOSSES
from isdaa.preference_training import last_checkpoint, train_cell
from isdaa.tasks import get_task, toy

N_PAIRS = 64


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny SFT model, 64 toy pairs with behaviour log-probs, and the shared reference log-probs."""
    root = tmp_path_factory.mktemp("world")
    runtime.setup(1, 0)
    task = get_task("toy")
    tokenizer = task.build_tokenizer()
    settings = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_positions": 64}
    model = modeling.build_model(tokenizer, settings, task.disallowed_response_tokens(tokenizer), seed=0)
    modeling.save(model, tokenizer, root / "sft")
    records = toy.generate_split(0, "sft", 2 * N_PAIRS, toy.ToySettings(), with_demos=True)
    prompts = [r["prompt"] for r in records[:N_PAIRS]]
    chosen = [r["completion"].strip() for r in records[:N_PAIRS]]
    rejected = [r["completion"].strip() for r in records[N_PAIRS:]]  # another prompt's summary
    ref_c = score_responses(model, tokenizer, prompts, chosen)
    ref_r = score_responses(model, tokenizer, prompts, rejected)
    prefs = pd.DataFrame({"pair_id": np.arange(N_PAIRS), "prompt": prompts, "chosen": chosen, "rejected": rejected,
                          # a behaviour policy that differs from the reference, so importance weights vary
                          "behavior_chosen_logp": ref_c + np.linspace(-1, 1, N_PAIRS),
                          "behavior_rejected_logp": ref_r})
    write_parquet(prefs, root / "preferences.parquet")
    write_parquet(pd.DataFrame({"pair_id": prefs["pair_id"], "reference_chosen_logp": ref_c,
                                "reference_rejected_logp": ref_r}), root / "reference_logps.parquet")
    config = validate_config(default_config())
    return root, config


def make_cell(world, method, out, **training):
    root, config = world
    cell = cell_config(config, method, "0.1", 1)
    cell["training"].update({"batch_size": 16, "epochs": 0.5, "logging_steps": 1, "save_steps": 2, **training})
    cell["paths"].update(sft_model=str(root / "sft"), preferences=str(root / "preferences.parquet"),
                         reference_logps=str(root / "reference_logps.parquet"), model=str(out / "model"),
                         train_log=str(out / "train_log.csv"), checkpoints=str(out / "checkpoints"),
                         snapshots=str(out / "snapshots"))
    return cell


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
    # End-of-epoch snapshots made before the kill survive it; those after it are made by the rerun.
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
