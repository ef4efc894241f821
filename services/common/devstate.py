"""Where a running `heatdesk dev` stack is, for the operator commands of a second terminal.

`heatdesk dev` (what `make run` runs) writes `<state dir>/dev.json` once its broker and
database are up: its pid, the DSN of the database it uses (an embedded PostgreSQL listens on
a free port, not 5432) and the broker's bootstrap address. It removes the file when it stops.
`heatdesk cases`, `deadletter` and `topics describe` started without `DATABASE_URL` or
`KAFKA_BOOTSTRAP_SERVERS` read that file, so they talk to the stack that is running instead
of whatever answers on the default ports. An explicit variable always wins.

The state folder is `.heatdesk` in the working directory (as `heatdesk dev --state-dir`
defaults to it), or `HEATDESK_DEV_STATE_DIR`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATE_FILE = "dev.json"
#: Setting -> the key of dev.json that supplies it.
SUPPLIED = {"DATABASE_URL": "database_url", "KAFKA_BOOTSTRAP_SERVERS": "kafka_bootstrap_servers"}


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("HEATDESK_DEV_STATE_DIR") or ".heatdesk")


def write_state(directory: Path, database_url: str, kafka_bootstrap_servers: str) -> Path:
    path = directory / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "database_url": database_url,
                               "kafka_bootstrap_servers": kafka_bootstrap_servers}, indent=2) + "\n")
    tmp.replace(path)
    return path


def remove_state(directory: Path) -> None:
    path = directory / STATE_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(directory: Path) -> dict[str, Any] | None:
    """What the running dev stack recorded, or None (no file, unreadable, or its process is gone)."""
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        state = None
    if isinstance(state, dict) and _alive(state.get("pid")):
        return state
    return _embedded_postgres(directory)


def _embedded_postgres(directory: Path) -> dict[str, Any] | None:
    """A stack started before dev.json existed: the embedded server running on `<dir>/pgdata`."""
    pgdata = directory / "pgdata"
    if not (pgdata / "postmaster.pid").is_file():
        return None
    from services.common.embedded import EmbeddedPostgres

    try:
        port = EmbeddedPostgres(pgdata).running_port()
    except (ImportError, OSError):  # no pgserver installed, or an unreadable folder
        return None
    return {"database_url": f"postgresql://postgres@127.0.0.1:{port}/heatdesk"} if port is not None else None


def cli_environ(environ: Mapping[str, str] | None = None, announce: bool = True) -> dict[str, str]:
    """The environment an operator command loads its settings from: the process environment,
    plus the running dev stack's database and broker for what the environment does not set."""
    env = dict(os.environ if environ is None else environ)
    missing = [name for name in SUPPLIED if not env.get(name) and not env.get(name + "_FILE")
               and not env.get("HEATDESK_" + name)]
    if not missing:
        return env
    directory = state_dir(env)
    state = read_state(directory)
    if not state:
        return env
    for name in missing:
        value = state.get(SUPPLIED[name])
        if value:
            env[name] = value
            if announce and name == "DATABASE_URL":
                from services.common.db import redact

                print(f"heatdesk: using the running dev stack's database {redact(value)} "
                      f"(from {directory}; set DATABASE_URL to choose another)", file=sys.stderr)
    return env


def load_cli_settings(cls: type | None = None, announce: bool = True) -> Any:
    """Settings `cls` (default ServiceSettings) for an operator command (see `cli_environ`)."""
    from services.common import settings as loader
    from services.common.config import ServiceSettings

    return loader.load(cls or ServiceSettings, cli_environ(announce=announce))
