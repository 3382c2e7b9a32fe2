# make demo   fresh machine -> virtual environment -> every figure (results/figures/) and results/report.html
# make test   the test suite (what CI runs)
# make bench  trainer speed vs TRL, and wall time and peak memory per stage of the demo -> docs/benchmarks.md
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# One thread per job: tiny models are faster and far steadier that way.
export OMP_NUM_THREADS := 1
export HF_HUB_OFFLINE := 1

.PHONY: demo test bench lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,slurm]"
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores all all
	$(BIN)/snakemake --report results/report.html

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=8

bench: $(STAMP)
	$(BIN)/python benchmarks/trainer_speed.py --output docs/benchmarks.md
	$(BIN)/python benchmarks/demo_pipeline.py --output docs/benchmarks.md

lint: $(STAMP)
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake benchmarks/runs
