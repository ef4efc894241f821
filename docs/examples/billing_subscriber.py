"""Follow cases.billing.v1: print each billing case as it opens or grows.

Needs only aiokafka. Deduplicates on the CloudEvents id (delivery is at least once) and
commits its offset after handling, so a restart resumes where it stopped.

    python billing_subscriber.py --bootstrap 127.0.0.1:9092 [--max-events N]
"""

import argparse
import asyncio
import json

from aiokafka import AIOKafkaConsumer


async def follow(bootstrap: str, max_events: int | None) -> None:
    consumer = AIOKafkaConsumer("cases.billing.v1", bootstrap_servers=bootstrap, group_id="billing-desk",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    seen: set[str] = set()  # a real desk keeps this in its database, next to what it did
    handled = 0
    try:
        async for record in consumer:
            headers = {k: v.decode() for k, v in record.headers}
            if headers["ce_id"] in seen:
                continue  # a redelivery: already handled
            event = json.loads(record.value)
            case, mention = event["case"], event["mention"]
            print(f"{headers['ce_type'].split('.')[-2]:<16} case {case['id']} [{case['priority']}] "
                  f"{case['status']}, {event['change']}: {mention['text'][:60]!r}", flush=True)
            seen.add(headers["ce_id"])
            await consumer.commit()
            handled += 1
            if max_events is not None and handled >= max_events:
                return
    finally:
        await consumer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--max-events", type=int)
    args = parser.parse_args()
    asyncio.run(follow(args.bootstrap, args.max_events))
