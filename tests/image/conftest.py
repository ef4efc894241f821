"""The image under test, built once per session by deploy/docker/build.py (what `make image` runs).

The build's numbers (image, size, build seconds) are part of the test's output: a summary line
at the end of the run, and image.json in the session's base temporary directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "deploy" / "docker" / "build.py"
IMAGE_INFO = pytest.StashKey[dict[str, Any]]()


@pytest.fixture(scope="session")
def image(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The image of the current inputs: built the first time (minutes), a tag lookup afterwards."""
    proc = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--json"], capture_output=True, text=True,
                          timeout=1800, cwd=ROOT)
    assert proc.returncode == 0, f"deploy/docker/build.py exit {proc.returncode}: {proc.stderr.strip()}"
    info: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    request.config.stash[IMAGE_INFO] = info
    (tmp_path_factory.getbasetemp() / "image.json").write_text(json.dumps(info, indent=2))
    print(summary(info))
    return info


def summary(info: dict[str, Any]) -> str:
    """One line: name, size, build or lookup time, and the first build's time when it is known."""
    first = f"  (first build {info['first_build_seconds']} s)" if info.get("first_build_seconds") else ""
    return (f"{info['name']}  size {info['size']}  {'cached, looked up' if info['cached'] else 'built'} in "
            f"{info['build_seconds']} s{first}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    info = config.stash.get(IMAGE_INFO, None)
    if info:
        terminalreporter.write_sep("-", "heatdesk image")
        terminalreporter.write_line(summary(info))
