"""The container image, run: what the Dockerfile builds must start and work, not only parse.

tests/deploy/test_image.py checks the recipe statically; this builds the image with the same
code as `make image` (cached by its input hash) and runs it with `buildah run --isolation
chroot` (host network, so the test's broker and PostgreSQL on loopback are reachable at the
same addresses): `heatdesk migrate` on an empty database, `heatdesk topics`, then the four
services as long-running processes, one mention through them to its department topic.

buildah does not forward SIGTERM (it kills its child), but with chroot isolation there is no
PID namespace: the service's own process is signalled, the way Kubernetes stops a pod, and
must exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.common.embedded import free_port
from services.common.topics import department_topic
from tests.conftest import FAST_KAFKA_ENV, throwaway_database
from tests.support import events, mention_body, read_topic

pytestmark = pytest.mark.integration

SERVICES = ("ingest", "classify", "route", "notify")
COMPLAINT = "@acme you charged me twice this month, refund me or I'm telling everyone"


class Container:
    """One buildah working container of the image; every command runs in it, concurrently."""

    def __init__(self, image: str) -> None:
        self.id = subprocess.run(["buildah", "from", "--pull-never", image], capture_output=True, text=True,
                                 check=True, timeout=300).stdout.strip()

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        flags = [part for key, value in (env or {}).items() for part in ("--env", f"{key}={value}")]
        return ["buildah", "run", "--isolation", "chroot", *flags, self.id, "--", *argv]

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv, env), capture_output=True, text=True, timeout=timeout)

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(self.command(argv, env), stdout=out, stderr=subprocess.STDOUT)

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.id], capture_output=True, timeout=120)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (host pids: chroot isolation has no PID namespace)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def service_pid(proc: subprocess.Popen[bytes]) -> int | None:
    """The heatdesk process that `buildah run` started (the image's /opt/heatdesk python)."""
    for pid in descendants(proc.pid):
        try:
            if (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0].startswith(b"/opt/heatdesk/"):
                return pid
        except OSError:
            continue
    return None


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> int | str:
    """SIGTERM to the service itself; its exit status comes back through buildah."""
    if proc.poll() is not None:
        return proc.returncode
    pid = service_pid(proc)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    else:
        proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return "killed"


@pytest.fixture(scope="module")
def container(image: dict[str, Any]) -> Iterator[Container]:
    c = Container(image["name"])
    try:
        yield c
    finally:
        c.remove()


@pytest.fixture
async def empty_database(pg_server: str) -> AsyncIterator[str]:
    """A database with no schema: `heatdesk migrate` from the image must make it."""
    async with throwaway_database(pg_server, "heatdesk_image") as dsn:
        yield dsn


def test_the_image_runs_as_uid_10001_with_its_package_data(container: Container, image: dict[str, Any]):
    ident = container.run(["id", "-u"])
    assert ident.returncode == 0 and ident.stdout.strip() == "10001", ident.stdout + ident.stderr
    listing = container.run(["python", "-c", "import os, pathlib, services.classify as c, services.common as m; "
                             "print(os.getuid()); "
                             "print(' '.join(sorted(os.listdir(pathlib.Path(c.__file__).parent / 'models')))); "
                             "print(len(list((pathlib.Path(m.__file__).parent / 'schemas').glob('*.json'))), "
                             "len(list((pathlib.Path(m.__file__).parent / 'migrations').glob('*.sql'))))"])
    assert listing.returncode == 0, listing.stderr
    uid, models, counts = listing.stdout.splitlines()
    assert uid == "10001"
    assert {"textcat", "lexicon.json"} <= set(models.split()), models
    schemas, migrations = (int(n) for n in counts.split())
    assert schemas > 0 and migrations > 0, counts
    config = container.run(["heatdesk", "config"])
    assert config.returncode == 0 and "KAFKA_BOOTSTRAP_SERVERS" in config.stdout, config.stderr
    print(f"image {image['name']}: {image['size']}, build {image['first_build_seconds']} s")


async def test_the_image_migrates_creates_topics_and_routes_a_mention(container: Container, image: dict[str, Any],
                                                                      broker: Any, empty_database: str,
                                                                      tmp_path: Path):
    context = f"image {image['name']} ({image['size']}, build {image['first_build_seconds']} s)"
    env = {**FAST_KAFKA_ENV, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": empty_database,
           "HEATDESK_HTTP_HOST": "127.0.0.1"}
    migrated = container.run(["heatdesk", "migrate"], env)
    assert migrated.returncode == 0 and migrated.stdout.startswith("applied: "), \
        f"{context}\n{migrated.stdout}{migrated.stderr}"
    again = container.run(["heatdesk", "migrate"], env)
    assert again.returncode == 0 and "schema up to date" in again.stdout, again.stdout + again.stderr
    made = container.run(["heatdesk", "topics"], env)
    assert made.returncode == 0, f"{context}\n{made.stdout}{made.stderr}"

    ports = {s: free_port() for s in SERVICES}
    env.update({f"HEATDESK_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    logs = {s: tmp_path / f"{s}.log" for s in SERVICES}
    processes = {s: container.start(["heatdesk", s], env, logs[s]) for s in SERVICES}

    def tails() -> str:
        return f"{context}\n" + "\n".join(f"--- {s} ---\n{logs[s].read_text(errors='replace')[-3000:]}" for s in SERVICES)

    exit_codes: dict[str, int | str] = {}
    try:
        deadline = time.monotonic() + 90
        for service in SERVICES:
            while True:
                assert processes[service].poll() is None, f"{service} exited {processes[service].returncode}\n{tails()}"
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{ports[service]}/readyz", timeout=1) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"{service} not ready within 90 s\n{tails()}"
                await asyncio.sleep(0.3)

        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{ports['ingest']}/v1/mentions",
                                 json=mention_body("image-1", COMPLAINT, author_id="img-1")) as resp:
                assert resp.status == 202, await resp.text()
                mention_id = (await resp.json())["id"]
        try:
            routed = await read_topic(broker.bootstrap, department_topic("billing"), timeout=60,
                                      until=lambda rs: any(e.data["mention"]["id"] == mention_id for e in events(rs)))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{tails()}") from exc
        (case,) = [e for e in events(routed) if e.data["mention"]["id"] == mention_id]
        assert case.data["classification"]["department"] == "billing"
    finally:
        for service, proc in processes.items():
            exit_codes[service] = stop(proc)
    # Graceful shutdown from the image too: SIGTERM → exit 0.
    assert exit_codes == {s: 0 for s in SERVICES}, f"{exit_codes}\n{tails()}"
