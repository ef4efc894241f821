#!/usr/bin/env python3
"""Build the Heatdesk image (deploy/docker/Dockerfile) on a machine without a Docker engine.

Why this exists: CI and development machines here have no Docker daemon, and pip inside a
container build cannot verify the registry mirror's TLS. So the image is built the
air-gapped way, with the same Dockerfile a `docker build` uses:

* buildah (`buildah bud --isolation chroot --layers`) builds it; apt-get installs buildah and
  debootstrap when missing (through sudo when not root).
* The base is Debian bookworm made by debootstrap (python3 3.11, like the host venv), cached
  as a tar under .heatdesk/image/ and imported as a local image, so no registry is pulled.
* The wheels are built on the host (`pip wheel`, runtime dependencies only: no dev/test
  extra) into .heatdesk/image/wheelhouse/; the image installs them with `--no-index`.
* The tag is `heatdesk:<first 16 hex of the sha256 of the image inputs>` (the Dockerfile, its
  .dockerignore, pyproject.toml, README.md, services/ without __pycache__, this script and
  the base's name): when that tag exists the build is skipped, so a second run takes a second.

Exit status: 0 built or already there; 1 a step failed; 2 the tools are missing and could
not be installed. Errors are one line on stderr; every command's output is in
.heatdesk/image/build.log. `--json` prints the result (name, size, build seconds) as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".heatdesk" / "image"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
IGNOREFILE = ROOT / "deploy" / "docker" / "Dockerfile.dockerignore"
WHEELHOUSE = STATE / "wheelhouse"
WHEELHOUSE_STAMP = STATE / "wheelhouse.pyproject-sha256"
LOG = STATE / "build.log"
REPOSITORY = "localhost/heatdesk"
SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,python-is-python3,ca-certificates"
#: Never in the runtime image: the dev extra (embedded broker and PostgreSQL) and torch.
FORBIDDEN_WHEELS = ("torch", "calfkit", "pgserver")
#: Dropped from the debootstrapped tree: package caches and lists (apt-get update restores
#: them), manuals and translations; about half of the 275 MB a minbase tree weighs.
BASE_TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/man", "usr/share/info", "usr/share/locale")


class BuildError(Exception):
    """A step failed; the message is the one line printed to the user."""

    exit_code = 1


class ToolsMissing(BuildError):
    exit_code = 2


@dataclass
class ImageInfo:
    name: str
    size_bytes: int
    size: str
    build_seconds: float
    cached: bool
    first_build_seconds: float | None


def log(message: str) -> None:
    """Progress on stderr, so that --json's stdout stays one JSON document."""
    print(f"build.py: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, what: str, input_bytes: bytes | None = None, capture: bool = False,
        cwd: Path | None = None) -> str:
    """Run one command with its output appended to the log; a failure is a BuildError naming it."""
    STATE.mkdir(parents=True, exist_ok=True)
    with LOG.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(cmd, input=input_bytes, stdout=subprocess.PIPE if capture else out,
                                  stderr=out, cwd=cwd, check=False)
        except FileNotFoundError as exc:
            raise ToolsMissing(f"{what}: {cmd[0]} not found") from exc
    if proc.returncode != 0:
        tail = [line for line in LOG.read_text(errors="replace").splitlines() if line.strip()][-1:]
        raise BuildError(f"{what} failed (exit {proc.returncode}): {tail[0] if tail else ''} (full log: {LOG})")
    return proc.stdout.decode() if capture else ""


def ensure_tools() -> None:
    """buildah and debootstrap from Debian's packages when missing: nothing else is needed."""
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and shutil.which("sudo") is None:
        raise ToolsMissing(f"{', '.join(missing)} missing and no sudo to install them: apt-get install {' '.join(missing)}")
    log(f"installing {' '.join(missing)} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (sudo + ["apt-get", "update", "-qq"],
                sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            raise ToolsMissing(f"could not install {' '.join(missing)}: run `apt-get install {' '.join(missing)}`")


def input_files() -> list[Path]:
    """What the image is made of: a change in any of these is a new tag (and a build)."""
    files = [DOCKERFILE, IGNOREFILE, ROOT / "pyproject.toml", ROOT / "README.md", Path(__file__).resolve()]
    files += sorted(p for p in (ROOT / "services").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return files


def input_hash(base: str) -> str:
    digest = hashlib.sha256(f"base={base}\n".encode())
    for path in input_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def image_exists(name: str) -> bool:
    listed = run(["buildah", "images", "--format", "{{.Name}}:{{.Tag}}"], what="buildah images", capture=True)
    return name in listed.split()


_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def image_size(name: str) -> tuple[int, str]:
    """buildah's size of the image (uncompressed, decimal units like "526 MB") and its byte count."""
    human = run(["buildah", "images", "--format", "{{.Size}}", name], what="buildah images", capture=True).strip()
    human = human.splitlines()[0] if human else "?"
    number, _, unit = human.partition(" ")
    try:
        size_bytes = int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        size_bytes = 0
    return size_bytes, human


def base_name() -> str:
    """Local base image, named after what debootstrap put in it."""
    tag = hashlib.sha256(f"{SUITE} {BASE_PACKAGES} {BASE_TRIM}".encode()).hexdigest()[:12]
    return f"localhost/heatdesk-base:{SUITE}-{tag}"


def ensure_base(name: str) -> None:
    """debootstrap once (cached as a tar), import it as a local image when buildah lacks it."""
    if image_exists(name):
        return
    tar = STATE / f"{name.rsplit(':', 1)[1]}.tar"
    if not tar.is_file():
        log(f"base: debootstrap --variant=minbase {SUITE} (about a minute)")
        with tempfile.TemporaryDirectory(dir=STATE, prefix="rootfs-") as tmp:
            rootfs = Path(tmp) / "root"
            run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE, str(rootfs)],
                what="debootstrap")
            for relative in BASE_TRIM:
                for child in (rootfs / relative).glob("*"):
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            for doc in (rootfs / "usr/share/doc").glob("*"):  # keep the copyright files only
                if doc.is_dir() and not doc.is_symlink():
                    for item in doc.iterdir():
                        if item.name != "copyright":
                            shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
            partial = tar.with_suffix(".tar.partial")
            run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], what="tar of the base")
            partial.rename(tar)
    log(f"base: importing {tar.name} as {name}")
    container = run(["buildah", "from", "scratch"], what="buildah from scratch", capture=True).strip()
    try:
        run(["buildah", "add", container, str(tar), "/"], what="buildah add (base tar)")
        run(["buildah", "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "--env", "LANG=C.UTF-8", "--cmd", "/bin/sh", container], what="buildah config (base)")
        run(["buildah", "commit", "--quiet", container, name], what="buildah commit (base)")
    finally:
        run(["buildah", "rm", container], what="buildah rm")


def build_wheelhouse() -> None:
    """Runtime wheels on the host (pip in the image cannot reach the registry): deps/ is rebuilt
    only when pyproject.toml changed, app/ (the heatdesk wheel) every time."""
    deps, app = WHEELHOUSE / "deps", WHEELHOUSE / "app"
    pyproject_sha = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    reuse = WHEELHOUSE_STAMP.is_file() and WHEELHOUSE_STAMP.read_text().strip() == pyproject_sha
    WHEELHOUSE_STAMP.unlink(missing_ok=True)
    if not reuse:
        shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    shutil.rmtree(app, ignore_errors=True)
    deps.mkdir(parents=True, exist_ok=True)
    app.mkdir()
    # From a clean copy: pip builds in the source tree, and the checkout must stay untouched.
    with tempfile.TemporaryDirectory(dir=STATE, prefix="src-") as tmp:
        source = Path(tmp) / "heatdesk"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(ROOT / "services", source / "services", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        log("wheelhouse: pip wheel " + ("heatdesk only (dependencies cached)" if reuse else "heatdesk + dependencies"))
        run([sys.executable, "-m", "pip", "wheel", "--quiet", *(["--no-deps"] if reuse else []),
             "--wheel-dir", str(app if reuse else deps), str(source)], what="pip wheel")
    for wheel in deps.glob("heatdesk-*.whl"):
        wheel.rename(app / wheel.name)
    names = [p.name.lower() for p in deps.glob("*.whl")]
    leaked = [n for n in names if n.split("-", 1)[0].replace("_", "-") in FORBIDDEN_WHEELS]
    if leaked:
        raise BuildError(f"wheelhouse holds what the image must not: {leaked}")
    if len(list(app.glob("heatdesk-*.whl"))) != 1 or not names:
        raise BuildError(f"wheelhouse incomplete: want deps/*.whl and one app/heatdesk-*.whl in {WHEELHOUSE}")
    WHEELHOUSE_STAMP.write_text(pyproject_sha)


def remove_older_tags(keep: str) -> None:
    """Older builds of this script (same repository, other input hash) are dropped: each weighs
    the full environment, and only the current inputs' image is ever run. Best effort: an image
    a working container still uses stays."""
    listed = run(["buildah", "images", "--format", "{{.Name}}:{{.Tag}}"], what="buildah images", capture=True)
    for name in listed.split():
        repository, _, tag = name.rpartition(":")
        if repository == REPOSITORY and name != keep and len(tag) == 16 and all(c in "0123456789abcdef" for c in tag):
            try:
                run(["buildah", "rmi", name], what=f"buildah rmi {name}")
            except BuildError as exc:  # in use by a container: kept, and the build stands
                log(f"kept {name}: {exc}")


def build(python_image: str | None = None) -> ImageInfo:
    """The image for the current inputs, built unless its tag already exists."""
    started = time.monotonic()
    STATE.mkdir(parents=True, exist_ok=True)
    ensure_tools()
    base = python_image or base_name()
    name = f"{REPOSITORY}:{input_hash(base)[:16]}"
    record = STATE / f"{name.rsplit(':', 1)[1]}.json"
    cached = image_exists(name)
    if not cached:
        if python_image is None:
            ensure_base(base)
        build_wheelhouse()
        log(f"buildah bud -> {name}")
        run(["buildah", "bud", "--isolation", "chroot", "--layers", "--file", str(DOCKERFILE),
             "--ignorefile", str(IGNOREFILE), "--build-arg", f"PYTHON_IMAGE={base}",
             "--build-arg", "WHEELS=wheels-from-context", "--tag", name, str(ROOT)], what="buildah bud")
    seconds = round(time.monotonic() - started, 1)
    first = json.loads(record.read_text()).get("build_seconds") if cached and record.is_file() else None
    if not cached:
        record.write_text(json.dumps({"name": name, "build_seconds": seconds}))
        remove_older_tags(name)
        first = seconds
    size_bytes, size = image_size(name)
    return ImageInfo(name=name, size_bytes=size_bytes, size=size, build_seconds=seconds, cached=cached,
                     first_build_seconds=first)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Heatdesk image with buildah (no Docker engine).")
    parser.add_argument("--python-image", help="a registry base image instead of the debootstrapped bookworm")
    parser.add_argument("--wheelhouse-only", action="store_true",
                        help=f"only build {WHEELHOUSE.relative_to(ROOT)}/ (for docker build --build-arg WHEELS=wheels-from-context)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    try:
        if args.wheelhouse_only:
            build_wheelhouse()
            print(WHEELHOUSE)
            return 0
        info = build(args.python_image)
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(asdict(info)))
    else:
        state = "cached, not rebuilt" if info.cached else "built"
        print(f"{info.name}  size {info.size} ({info.size_bytes} bytes)  {state} in {info.build_seconds} s"
              + (f" (first build {info.first_build_seconds} s)" if info.cached and info.first_build_seconds else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
