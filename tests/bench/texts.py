"""Real-shaped mention texts for benchmarks.

The shared evaluation data (airline tweets, CC BY-NC-SA: evaluation and benchmarks only)
is read from `../shared/data` at run time when present and never copied into the repo;
otherwise a fixed set of texts written for the project is cycled.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tests.bench.common import REPO

SHARED = Path(os.environ.get("HEATDESK_SHARED_DATA", REPO.parent / "shared" / "data"))
FALLBACK = [
    "@acme you charged me twice this month, refund me or I'm telling everyone",
    "My order #AB12345 never arrived and nobody answers the phone",
    "The app keeps crashing when I open my statement, please fix it",
    "Thanks @acme, the new checkout is so much faster!",
    "How do I change the email address on my account?",
    "Cancelled my flight without notice, I want my money back or I'm going to the press",
    "Waited 45 minutes on hold, this is ridiculous",
    "Is there a student discount on the annual plan?",
]


def texts(limit: int = 20_000) -> tuple[list[str], str]:
    """(texts, where they came from)."""
    path = SHARED / "airline_tweets.csv"
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row["text"] for row in csv.DictReader(handle)][:limit]
        return rows, f"{path} (evaluation use)"
    return FALLBACK, "built-in texts"
