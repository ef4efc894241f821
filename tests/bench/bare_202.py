"""The baseline of the ingest benchmark: an aiohttp handler that reads the body and answers 202.

It does what any HTTP front door must (accept the connection, read the request, answer)
and nothing else, so ingest's figure beside it shows what validation, normalisation and
waiting for the broker's acknowledgement cost.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=202, content_type="application/json", body=b'{"id":"0"}')


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/mentions", accept)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
