"""The first hop of the relay-chain baseline: an aiohttp endpoint that answers 202 after the
broker acknowledged the record it wrote (one mention per request, like ingest), through a
producer configured as ingest's (`make_producer`: compression, partitioner, linger, batch size).
Run: python -m tests.bench.relay_http PORT BOOTSTRAP TOPIC
"""

from __future__ import annotations

import os
import sys

from aiohttp import web

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.kafka import make_producer


def main() -> None:
    port, bootstrap, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["producer"] = make_producer(loader.load(ServiceSettings, {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}),
                                        "relay-http")
        await app["producer"].start()

    async def stop(app: web.Application) -> None:
        await app["producer"].stop()

    async def accept(request: web.Request) -> web.Response:
        body = await request.read()
        await app["producer"].send_and_wait(topic, value=body, key=str(len(body)).encode())
        return web.Response(status=202, content_type="application/json", body=b'{"id":"0"}')

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/mentions", accept)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
