"""services.common.runtime.settle_heap: run in a child process (gc settings are process-wide)."""

from __future__ import annotations

import subprocess
import sys

from services.common.runtime import GC_GEN0_THRESHOLD

PROBE = """
import gc
from services.common.runtime import settle_heap
model = [{"weights": list(range(20))} for _ in range(1000)]  # what a service builds at start
before = gc.get_threshold()
settle_heap()
print(gc.get_freeze_count() >= 1000, gc.get_threshold()[0], gc.get_threshold()[1:] == before[1:])
"""


def test_settle_heap_freezes_the_start_up_heap_and_raises_the_young_threshold():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", str(GC_GEN0_THRESHOLD), "True"]


def test_the_service_setting_turns_it_off():
    from services.common import settings as loader
    from services.common.config import ServiceSettings

    assert loader.load(ServiceSettings, {}).gc_tuning is True
    assert loader.load(ServiceSettings, {"HEATDESK_GC_TUNING": "false"}).gc_tuning is False
