"""A relay that does no work: consume a topic, produce each record to another, commit after acks.

It is the baseline of the route and end-to-end benchmarks: the same consume → produce →
commit-after-acknowledgement hop on the same broker, with no database and no logic, so
the figure beside it shows what the work itself costs. "The same hop" means the services'
own Kafka clients: the consumer and producer come from `make_consumer`/`make_producer` with
the same settings (fetch wait, compression, partitioner, batch size) and the records leave
through the services' `Publisher` (one closed batch per partition). Anything the services'
hops gain from their client settings, the baseline gains too.
Run: python -m tests.bench.relay BOOTSTRAP SOURCE_TOPIC TARGET_TOPIC GROUP
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.kafka import Publisher, make_consumer, make_producer


async def relay(bootstrap: str, source: str, target: str, group: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    settings = loader.load(ServiceSettings, {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    # A short session, as the services get in the benchmark: the group forms before the clock starts.
    consumer = make_consumer(settings, "relay", group, [source], session_timeout_ms=2000, heartbeat_interval_ms=300)
    producer = make_producer(settings, "relay")
    publisher = Publisher(producer)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            if not batches:
                continue
            await publisher.publish_rows([(target, r.key.decode() if r.key is not None else None, list(r.headers),
                                           r.value) for records in batches.values() for r in records])
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(relay(*sys.argv[1:5]))
