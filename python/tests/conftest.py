"""Shared fixtures: the repository, the cbrl executable beside the library under test, and a
runner of `cbrl ... --json`."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))


def cli_path():
    return os.environ.get("CBRL_CLI", os.path.join(ROOT, "build", "cbrl"))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def cli():
    """Runs the cbrl executable and returns its parsed JSON output."""
    path = cli_path()
    if not os.path.exists(path):
        pytest.fail("the cbrl executable is missing at %s (make build)" % path)

    def run(*args):
        out = subprocess.run([path] + [str(a) for a in args], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    run.path = path
    return run
