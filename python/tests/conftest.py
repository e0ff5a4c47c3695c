"""Shared fixtures: the sgd-ou binary (SGD_OU_BIN, else `cargo run` in the repository)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sgd_ou():
    """A function running `sgd-ou ARGS...` and returning the CompletedProcess; the test is
    skipped (visibly, with the reason) when neither SGD_OU_BIN nor cargo is available."""
    exe = os.environ.get("SGD_OU_BIN")
    if exe:
        cmd = [exe]
    elif shutil.which("cargo") and (REPO / "Cargo.toml").exists():
        cmd = ["cargo", "run", "--quiet", "--manifest-path", str(REPO / "Cargo.toml"), "--"]
    else:
        pytest.skip("SKIPPED: no sgd-ou binary: set SGD_OU_BIN=/path/to/sgd-ou or install cargo")

    def run(*args):
        return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True)

    return run
