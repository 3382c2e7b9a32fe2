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
