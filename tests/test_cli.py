"""The command line refuses, before any work, what would silently overwrite the workflow's outputs."""

import pytest
import yaml
from conftest import default_config

from isdaa.cli import main
from isdaa.config import cell_config, task_config, validate_config


@pytest.fixture
def cell_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cell = cell_config(task_config(validate_config(default_config()), "toy"), "dpo", "0.1", 1)
    path = tmp_path / "results" / "toy" / "dpo" / "beta0.1" / "seed1" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(cell))
    return path


def test_train_into_the_cells_own_folder_needs_into_cell(cell_file):
    with pytest.raises(SystemExit, match="is the cell's own folder; pass --into-cell"):
        main(["train", "--config", str(cell_file), "--output-dir", str(cell_file.parent)])
    with pytest.raises(SystemExit, match="--into-cell writes the cell's own outputs; it takes no --output-dir"):
        main(["train", "--config", str(cell_file), "--into-cell", "--output-dir", "elsewhere"])


def test_evaluate_needs_the_config_beside_the_model(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(SystemExit, match="config.yaml not found"):
        main(["evaluate", "--model-path", str(tmp_path / "model")])


def test_a_manual_run_keeps_its_tensorboard_logs_and_records_the_behaviour_used(cell_file, monkeypatch):
    """A manual rerun of a workflow cell (whose config.yaml carries its execution section)
    writes nothing of the cell's: its TensorBoard logs go to its own folder too."""
    import isdaa.preference_training

    cell = yaml.safe_load(cell_file.read_text())
    cell["execution"] = {"report_to": ["tensorboard"], "logging_dir": "results/toy/tensorboard/dpo/beta0.1/seed1"}
    cell_file.write_text(yaml.safe_dump(cell))
    runs = []
    monkeypatch.setattr(isdaa.preference_training, "run_cell",
                        lambda cell, processes: runs.append((cell, processes)) or {"behavior_used": "none"})
    assert main(["train", "--config", str(cell_file), "--processes", "2"]) == 0
    (trained, processes), = runs
    manual = cell_file.parent / "manual"
    assert processes == 2
    assert trained["execution"]["logging_dir"] == str(manual / "tensorboard")
    assert trained["paths"]["checkpoints"] == str(manual / "checkpoints")
    written = yaml.safe_load((manual / "config.yaml").read_text())
    assert written["behavior_used"] == "none" and written["execution"] == trained["execution"]


def test_sft_runs_the_job_file_on_the_processes_asked_for(tmp_path, monkeypatch):
    import isdaa.sft

    job = {"settings": {"seed": 3, "enabled": True}, "threads": 1, "base_model": "b"}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    runs = []
    monkeypatch.setattr(isdaa.sft, "run_sft", lambda job, processes: runs.append((job, processes)))
    assert main(["sft", "--config", str(tmp_path / "job.yaml"), "--processes", "2"]) == 0
    assert runs == [(job, 2)]
