"""RFC 9457 problem details for every HTTP error Heatdesk returns."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

PROBLEM_TYPE_BASE = "https://heatdesk.dev/problems/"
CONTENT_TYPE = "application/problem+json"


def problem(status: int, slug: str, title: str, detail: str = "", *,
            headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return web.Response(status=status, body=orjson.dumps(body), content_type=CONTENT_TYPE,
                        headers=headers)
