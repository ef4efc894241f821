"""services.common.partitioner: the same partitions as aiokafka's (and the Java client's) default."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.common.partitioner import KeyPartitioner, murmur2


def test_murmur2_equals_aiokafkas_for_every_tail_length():
    rng = random.Random(7)
    for _ in range(5000):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80)))
        assert murmur2(data) == aiokafka_murmur2(data), data


def test_known_java_client_hash():
    # Utils.murmur2("21".getBytes()) in the Java client is -973932308 (signed 32 bits).
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF


def test_partitions_equal_the_default_partitioners_also_when_remembered():
    mine, default = KeyPartitioner(capacity=50), DefaultPartitioner()
    partitions = list(range(12))
    keys = [f"x:customer-{i}".encode() for i in range(120)] * 2  # past the capacity, then again
    for key in keys:
        assert mine(key, partitions, partitions) == default(key, partitions, partitions)
    assert len(mine._hashes) <= 50  # noqa: SLF001 - the memo stays bounded


def test_a_record_without_key_goes_to_an_available_partition():
    assert KeyPartitioner()(None, [0, 1, 2], [2]) == 2
