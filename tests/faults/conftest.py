"""Fixtures of the fault tests, and the table of faults printed at the end of the run.

Each fault test records one row per fault it injected (`fault_report`): what, how many
mentions were sent, lost and duplicated, and how long recovery took. The rows are printed
as a table after the test session and written to `fault-report.json` in the session's
temporary directory (the path is printed too).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.brokers import lane_broker
from tests.faults.stack import FaultStack

_ROWS: list[dict[str, Any]] = []
_REPORT_DIR: list[Path] = []


@pytest.fixture
def fault_report() -> Callable[..., None]:
    """fault_report(fault=..., sent=..., lost=..., duplicated=..., recovery_s=..., note=...)"""
    def record(**row: Any) -> None:
        _ROWS.append({"broker": lane_broker(), **row})

    return record


@pytest.fixture
async def fault_stack(pg_server: str, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """A factory of `FaultStack`s (set up on call); every stack is torn down after the test."""
    stacks: list[FaultStack] = []
    if not _REPORT_DIR:
        _REPORT_DIR.append(tmp_path.parent)

    async def make(**options: Any) -> FaultStack:
        stack = FaultStack(pg_server, tmp_path, **options)
        stacks.append(stack)
        await stack.setup()
        return stack

    yield make
    for stack in stacks:
        await stack.teardown()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    columns = ["broker", "fault", "sent", "lost", "duplicated", "recovery_s", "note"]
    terminalreporter.section("faults injected")
    terminalreporter.write_line(" | ".join(columns))
    for row in _ROWS:
        terminalreporter.write_line(" | ".join(str(row.get(c, "")) for c in columns))
    if _REPORT_DIR:
        path = _REPORT_DIR[0] / "fault-report.json"
        path.write_text(json.dumps(_ROWS, indent=2))
        terminalreporter.write_line(f"(written to {path})")
