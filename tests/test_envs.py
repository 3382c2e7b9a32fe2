"""The per-stage conda environments parse and agree with pyproject.toml's pins."""

import re
import tomllib

import yaml
from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)$")


def pins(requirements):
    out = {}
    for req in requirements:
        match = PIN.match(req.strip())
        assert match, f"not an exact pin: {req!r}"
        out[match[1].lower()] = match[2]
    return out


def test_envs_agree_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = pins(project["dependencies"])
    assert pinned["torch"] == "2.13.0"
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for path in envs:
        env = yaml.safe_load(path.read_text())
        pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
        for name, version in pins(pip).items():
            assert name in pinned, f"{path.name}: {name} is not a dependency in pyproject.toml"
            assert version == pinned[name], f"{path.name}: {name}=={version}, pyproject.toml pins {pinned[name]}"


def test_every_rule_env_exists():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env} missing"
