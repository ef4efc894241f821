"""A relay that does no work: consume a topic, produce each record to another, commit after acks.

It is the baseline of the route and end-to-end benchmarks: the same consume → produce →
commit-after-acknowledgement hop on the same broker, with no database and no logic, so
the figure beside it shows what the work itself costs. Its consumer waits at the broker as
long as the services' do (`FETCH_MAX_WAIT_MS`, their `HEATDESK_KAFKA_FETCH_MAX_WAIT_MS`): the
embedded broker holds an empty fetch for the whole wait, so aiokafka's default of 500 ms
would put up to half a second of idle into each hop and flatter the pipeline beside it.
Run: python -m tests.bench.relay BOOTSTRAP SOURCE_TOPIC TARGET_TOPIC GROUP [FETCH_MAX_WAIT_MS]
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def relay(bootstrap: str, source: str, target: str, group: str, fetch_max_wait_ms: int = 50) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=2000, heartbeat_interval_ms=300,
                                fetch_max_wait_ms=fetch_max_wait_ms)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            if not batches:
                continue
            futures = [await producer.send(target, value=r.value, key=r.key, headers=list(r.headers))
                       for records in batches.values() for r in records]
            await asyncio.gather(*futures)
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(relay(*sys.argv[1:5], *(int(a) for a in sys.argv[5:6])))
