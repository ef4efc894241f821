"""The image recipe (deploy/docker/Dockerfile), checked without a Docker daemon.

The image is `pip install .` into a virtual environment: what a wheel of the project holds
is what the image holds. So the wheel is built here, exactly as pip builds it in the image,
and must carry the package data the services load at run time (JSON Schemas, SQL
migrations, the classifier's trained artefacts). The Dockerfile itself must be multi-stage,
end as a numeric non-root user with `heatdesk` as entrypoint, install its wheels offline from
either wheelhouse stage (built by pip in the image, or on the host by deploy/docker/build.py),
and copy only paths that exist (or that build.py makes) and that its .dockerignore lets into
the build context. tests/image/ builds the image with buildah and runs it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.deploy.support import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"
PACKAGE_DATA = ("services/common/schemas", "services/common/migrations", "services/classify/models",
                "services/classify/config")


def source_files(relative_dir: str) -> list[str]:
    base = ROOT / relative_dir
    return sorted(str(p.relative_to(ROOT)) for p in base.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc") if base.is_dir() else []


def test_the_package_carries_the_data_the_services_load(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "services", source / "services", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
                           str(tmp_path / "out"), str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "out").glob("heatdesk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [f for directory in PACKAGE_DATA for f in source_files(directory)]
    assert any(f.endswith(".json") for f in wanted) and any(f.endswith(".sql") for f in wanted)
    missing = [f for f in wanted if f not in names]
    assert not missing, f"not installed by `pip install .` (so not in the image): {missing}"
    assert "services/cli.py" in names


def test_the_dockerfile_is_multi_stage_and_ends_non_root():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM .+$", text, flags=re.M)
    assert len(stages) >= 2
    final = text.split(stages[-1], 1)[1]
    assert re.search(r"^USER 10001:10001$", final, flags=re.M), "the runtime stage runs as uid/gid 10001"
    assert re.search(r'^ENTRYPOINT \["heatdesk"\]$', final, flags=re.M)
    assert "COPY --from=build" in final and not re.search(r"^COPY (?!--from)", final, flags=re.M), \
        "the runtime stage takes only the built environment"
    assert "apt-get install" not in final, "no compiler or package manager work in the runtime stage"


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore: the last pattern matching the path or a parent directory wins."""
    parents = [("/".join(path.split("/")[:n])) for n in range(1, path.count("/") + 2)]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = _docker_pattern(raw.lstrip("!").rstrip("/"))
        if any(regex.match(p) for p in parents):
            excluded = not negated
    return excluded


def test_the_wheels_come_from_one_of_two_stages_and_are_installed_offline():
    """docker build's default builds the wheelhouse in the image; build.py (buildah, air-gapped)
    passes WHEELS=wheels-from-context and its host-built wheelhouse. Either way the build stage
    installs with --no-index, so both images hold the same thing."""
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG WHEELS=wheels-from-index$", text, flags=re.M)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", text, flags=re.M)
    stages = {name: base for base, name in re.findall(r"^FROM (\S+) AS (\S+)$", text, flags=re.M)}
    assert stages["wheels"] == "${WHEELS}" and {"wheels-from-index", "wheels-from-context"} <= set(stages)
    assert stages["wheels-from-context"] == "scratch"
    build = text.split("AS build", 1)[1].split("\nFROM ", 1)[0]
    installs = re.findall(r"pip install [^\n]*", build)
    assert installs and all("--no-index" in line for line in installs), installs
    spec = importlib.util.spec_from_file_location("heatdesk_image_build", DEPLOY / "docker" / "build.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script  # dataclasses look their module up
    spec.loader.exec_module(script)
    assert f"{script.WHEELHOUSE.relative_to(script.ROOT)}/" in GENERATED, "build.py fills the wheelhouse COPY reads"
    assert "WHEELS=wheels-from-context" in Path(script.__file__).read_text()


#: Made by deploy/docker/build.py (gitignored), so absent from a fresh checkout.
GENERATED = (".heatdesk/image/wheelhouse/",)


def test_the_build_context_holds_what_the_dockerfile_copies():
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = []
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), flags=re.M):
        sources += line.split()[:-1]
    assert sources
    for generated in GENERATED:
        assert generated in sources
        sources.remove(generated)
        assert not ignored(generated + "deps/numpy-2.0-cp311-cp311-linux_x86_64.whl", patterns)
        assert not ignored(generated + "app/heatdesk-0.1.0-py3-none-any.whl", patterns)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
        files = [source] if (ROOT / source).is_file() else source_files(source)
        assert files
        excluded = [f for f in files if ignored(f, patterns)]
        assert not excluded, f"Dockerfile.dockerignore drops what COPY {source} needs: {excluded[:5]}"
    assert ignored(".venv/bin/python", patterns) and ignored("services/common/__pycache__/x.pyc", patterns)
