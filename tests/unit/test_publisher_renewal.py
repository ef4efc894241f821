"""Publisher replaces an idempotent producer whose sequence numbers fell out of step (aiokafka#1017).

The broker answers such a producer OutOfOrderSequenceNumber for every later send, and
aiokafka never resets its sequences; found by the Kafka lane's broker-restart fault test,
where it stopped notify's outbox for good. The broker side is covered there; this is the
swap logic, with a stand-in for the producer's interface.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber

from services.common.errors import PublishFailed
from services.common.kafka import Publisher


class StandInProducer:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list[bytes] = []
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None, headers: list) -> None:  # type: ignore[type-arg]
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        self.sent.append(value or b"")


async def test_an_out_of_step_producer_is_replaced_once_and_the_publish_is_retriable():
    stuck = StandInProducer(OutOfOrderSequenceNumber())
    made: list[StandInProducer] = []

    def renew() -> StandInProducer:
        made.append(StandInProducer())
        return made[-1]

    publisher = Publisher(stuck, renew=renew)  # type: ignore[arg-type]
    results = await asyncio.gather(*(publisher.publish_raw("t", b"x", None, []) for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, PublishFailed) and r.retriable for r in results)
    assert len(made) == 1 and made[0].started and stuck.stopped  # concurrent failures replace it once
    assert publisher.producer is made[0]
    await publisher.publish_raw("t", b"again", None, [])
    assert made[0].sent == [b"again"]


async def test_other_broker_errors_keep_the_producer():
    down = StandInProducer(KafkaConnectionError())
    publisher = Publisher(down, renew=lambda: pytest.fail("renewed on a connection error"))  # type: ignore[arg-type]
    with pytest.raises(PublishFailed):
        await publisher.publish_raw("t", b"x", None, [])
    assert publisher.producer is down and not down.stopped
