"""A cell split over processes or gradient-accumulation passes trains as in one process:
the same global batches, each step's gradient the mean over its batch's pairs (the short
last batch of an epoch included), the same logs; a run of several processes killed hard
resumes to the same weights; bad splits and missing packages fail before anything starts.

Several processes here are CPU processes on the gloo backend, launched by the same
`accelerate launch` command as GPU jobs. DeepSpeed ZeRO-3 is not installed, so only its
refusal is tested."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from test_preference_training import build_world, make_cell

from isdaa import distributed
from isdaa.preference_training import GlobalBatches, last_checkpoint, run_cell, train_cell
from isdaa.sft import run_sft
from isdaa.tasks import toy

# 45 pairs at a global batch of 16: batches of 16, 16 and 13 per epoch, 3 steps. The 13
# split two ways is 7 + 6, four ways 4 + 3 + 3 + 3.
N_PAIRS = 45
EPOCHS = 40  # 120 steps: long enough to kill a run between two checkpoints
# Same weights to float rounding: after 120 steps at most 3.6e-7 apart (weights up to 1.1)
# between one process, two accumulation passes and two processes (4.8e-7 for two
# processes of two passes each). A mean per pass divided by the passes (transformers'
# default, which overweights the short pass of a short batch) moved them by 3e-3.
WEIGHT_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("world"), N_PAIRS)


def split_cell(world, out, **settings):
    """An importance-sampled cell (weights vary per pair) over 40 epochs at a global batch of 16."""
    return make_cell(world, "is_dpo", out, **{"batch_size": 16, "epochs": EPOCHS, "logging_steps": 10,
                                              "save_steps": 20, "snapshots_per_epoch": 1, **settings})


@pytest.fixture(scope="module")
def two_processes(world, tmp_path_factory):
    """The cell trained on two gloo processes of 8 pairs each, through the launcher;
    returns its folder and what the processes printed."""
    out = tmp_path_factory.mktemp("two_processes")
    cell = split_cell(world, out, per_device_batch_size=8)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = run_cell(cell, processes=2)
    assert result == {"behavior_used": "recorded"}
    return out, printed.getvalue()


def weights(folder) -> dict:
    return load_file(Path(folder) / "model" / "model.safetensors")


def assert_same_training(a, b, exact: bool):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        if exact:
            assert torch.equal(wa[key], wb[key]), key
        else:
            assert torch.allclose(wa[key], wb[key], rtol=0, atol=WEIGHT_TOLERANCE), \
                f"{key}: {(wa[key] - wb[key]).abs().max()}"
    la, lb = pd.read_csv(Path(a) / "train_log.csv"), pd.read_csv(Path(b) / "train_log.csv")
    assert list(la.columns) == list(lb.columns) and len(la) == EPOCHS * 3 // 10
    assert la["step"].equals(lb["step"]) and la["epoch"].equals(lb["epoch"])
    # Losses and per-pair metrics (means over pairs, maxima) alike.
    pd.testing.assert_frame_equal(la, lb, check_exact=exact, rtol=1e-4, atol=1e-5)
    assert sorted(os.listdir(Path(a) / "snapshots")) == sorted(os.listdir(Path(b) / "snapshots"))


@pytest.mark.slow
def test_a_global_batch_trains_the_same_however_it_is_split(world, two_processes, tmp_path):
    whole, passes = tmp_path / "one_pass", tmp_path / "two_passes"
    train_cell(split_cell(world, whole))  # transformers' own path, as the toy's cells
    train_cell(split_cell(world, passes, per_device_batch_size=8))
    assert_same_training(whole, passes, exact=False)
    assert_same_training(whole, two_processes[0], exact=False)
    assert len(os.listdir(whole / "snapshots")) == EPOCHS - 1


def global_batches(n, batch, world, accumulation, order):
    """Every process's micro-batches, grouped by global batch: [[process 0's, process 1's, ...], ...]."""
    per_process = [list(GlobalBatches(order, batch, world, r, accumulation)) for r in range(world)]
    assert {len(p) for p in per_process} == {-(-n // batch) * accumulation}  # every process runs every pass
    return [[p[g * accumulation:(g + 1) * accumulation] for p in per_process] for g in range(-(-n // batch))]


@pytest.mark.parametrize("n,batch,world,accumulation", [(45, 16, 2, 1), (45, 16, 2, 2), (45, 16, 1, 4),
                                                        (37, 16, 2, 4), (5, 16, 3, 2)])
def test_global_batches_deal_out_what_one_process_would_take(n, batch, world, accumulation):
    order = list(torch.randperm(n, generator=torch.Generator().manual_seed(n)))
    order = [int(i) for i in order]
    for g, parts in enumerate(global_batches(n, batch, world, accumulation, order)):
        expected = order[g * batch:(g + 1) * batch]
        rows = [row for process in parts for micro in process for row in micro]
        real = [i for i, weight, _ in rows if weight == 1.0]
        assert sorted(real) == sorted(expected)  # each pair once, none from another batch
        assert {pairs for _, _, pairs in rows} == {len(expected)}
        sizes = [sum(w for _, w, _ in micro) for process in parts for micro in process]
        assert max(sizes) - min(sizes) <= 1  # as even as they go
        for process in parts:
            for micro in process:
                # A filler row (weight 0) only stands in for an empty part.
                assert all(w == 1.0 for _, w, _ in micro) or (len(micro) == 1 and micro[0][1] == 0.0)


@pytest.mark.slow
def test_a_killed_multi_process_run_resumes_to_the_same_weights(world, two_processes, tmp_path):
    cell = split_cell(world, tmp_path, per_device_batch_size=8)
    cell_path = tmp_path / "cell.yaml"
    cell_path.write_text(yaml.safe_dump(cell))
    command = [sys.executable, "-m", "isdaa", "train", "--config", str(cell_path), "--into-cell", "--processes", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(tmp_path / "killed.log", "w") as out:
        # Its own process group, killed whole, as a scheduler kills a job.
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        first = tmp_path / "checkpoints" / "checkpoint-60" / "trainer_state.json"
        deadline = time.time() + 120
        while not first.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "model").exists(), "the run finished before it could be killed"
    resumed_from = last_checkpoint(tmp_path / "checkpoints")
    assert resumed_from is not None and not resumed_from.endswith("checkpoint-120")
    # The launched processes die with their launcher: none trains on beside the rerun.
    launch_config = str(tmp_path / "checkpoints" / "launch.yaml")
    deadline = time.time() + 10
    while processes_reading(launch_config) and time.time() < deadline:
        time.sleep(0.1)
    assert not processes_reading(launch_config)

    rerun = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    # Every process's log lines reach the job's output.
    assert f"[rank 1] isdaa.preference_training INFO resuming from {resumed_from}" in rerun.stdout
    assert_same_training(two_processes[0], tmp_path, exact=True)
    assert yaml.safe_load(cell_path.read_text())["behavior_used"] == "recorded"
    assert not (tmp_path / "checkpoints").exists()


def processes_reading(path: str) -> list[int]:
    """Processes whose command line names `path` (this test's launched processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if path in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
    return found


def no_launch(*args, **kwargs):
    raise AssertionError("processes were launched before the bad setting was found")


def test_a_split_that_does_not_add_up_is_refused_naming_the_keys(world, tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "launch", no_launch)
    with pytest.raises(ValueError, match=r"preference_training.batch_size = 16 is not a multiple of "
                                         r"preference_training.per_device_batch_size = 6 x 1 processes "
                                         r"\(world size 1\)"):
        train_cell(split_cell(world, tmp_path, per_device_batch_size=6))
    cell = split_cell(world, tmp_path, batch_size=15)
    with pytest.raises(ValueError, match=r"preference_training.batch_size = 15 does not split over 2 processes "
                                         r"\(world size 2\).*preference_training.per_device_batch_size"):
        run_cell(cell, processes=2)
    job = {"settings": {"enabled": True, "batch_size": 15}, "execution": {"per_device_batch_size": 4},
           **dict.fromkeys(["base_model", "sft_data", "output_dir", "model", "work_dir"], str(tmp_path))}
    with pytest.raises(ValueError, match=r"sft.batch_size = 15 is not a multiple of sft.per_device_batch_size = "
                                         r"4 x 2 processes \(world size 2\)"):
        run_sft(job, processes=2)


def test_deepspeed_without_deepspeed_is_refused_before_launching(world, tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "launch", no_launch)
    monkeypatch.setattr(distributed.importlib.util, "find_spec", lambda name, *a: None)
    cell = split_cell(world, tmp_path, distributed="deepspeed_zero3")
    with pytest.raises(ValueError, match=r"preference_training.distributed: deepspeed_zero3 needs DeepSpeed, which "
                                         r"is not installed \(pip install deepspeed\)"):
        run_cell(cell, processes=2)
    # The file the processes would get: ZeRO-3, and saving gathers the sharded weights.
    zero3 = json.loads(distributed.ZERO3_CONFIG.read_text())
    assert zero3["zero_optimization"]["stage"] == 3
    assert zero3["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_processes_of_a_gpu_resource():
    assert [distributed.processes(g) for g in (None, 0, 1, 2, 4)] == [1, 1, 1, 2, 4]


@pytest.mark.slow
def test_a_failed_process_fails_the_run_with_its_error(world, tmp_path):
    root, _ = world
    reference = pd.read_parquet(root / "reference_logps.parquet")
    reference.iloc[:40].to_parquet(tmp_path / "reference_logps.parquet")  # 5 pairs without
    cell = split_cell(world, tmp_path, per_device_batch_size=8)
    cell["paths"]["reference_logps"] = str(tmp_path / "reference_logps.parquet")
    with contextlib.redirect_stdout(io.StringIO()):
        with pytest.raises(RuntimeError, match=r"(?s)failed on 2 processes.*ValueError: .*no reference log-probs "
                                               r"for 5 pair\(s\)"):
            run_cell(cell, processes=2)
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_sft_trains_on_two_processes_through_its_command(world, tmp_path):
    root, _ = world
    records = toy.generate_split(1, "sft", 64, toy.ToySettings(), with_demos=True)
    pd.DataFrame({"prompt": [r["prompt"] for r in records], "completion": [r["completion"] for r in records],
                  "response": [r["completion"].strip() for r in records]}).to_parquet(tmp_path / "sft.parquet")
    settings = {"enabled": True, "max_steps": 4, "epochs": None, "batch_size": 16, "learning_rate": 3e-3,
                "lr_scheduler_type": "linear", "lr_scheduler_kwargs": {}, "warmup_steps": 1, "max_grad_norm": 1.0,
                "max_length": 64, "bf16": False, "seed": 0}
    job = {"base_model": str(root / "sft"), "sft_data": str(tmp_path / "sft.parquet"),
           "output_dir": str(tmp_path / "model"), "work_dir": str(tmp_path / "work"), "settings": settings,
           "model": {"prompt_format": "raw", "system_prompt": None, "dtype": "float32", "attn_implementation": None},
           "execution": {"per_device_batch_size": 4, "logging_steps": 1}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    run = subprocess.run([sys.executable, "-m", "isdaa", "sft", "--config", str(tmp_path / "job.yaml"),
                          "--processes", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "SFT done" in run.stdout
    before, after = load_file(root / "sft" / "model.safetensors"), weights(tmp_path)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not (tmp_path / "work" / "launch.yaml").exists()
