"""Transactional producer for test/integration/kafka-transactions.test.ts, on confluent-kafka
(PyPI, librdkafka inside): nobody here wrote it. Usage: python kafka_txn_producer.py BOOTSTRAP
TOPIC PREFIX [KAFKA_EXTRA_CONFIG={json} in the environment]. Commits a transaction, aborts one, commits another, as described in the test."""
import json
import os
import sys

from confluent_kafka import Producer

bootstrap, topic, prefix = sys.argv[1:4]


def event(kind, i):
    return json.dumps({"event_id": f"{prefix}-{kind}-{i}", "seq": i, "kind": kind}).encode()


p = Producer(
    {
        "bootstrap.servers": bootstrap,
        "transactional.id": f"{prefix}-tx",
        "compression.type": "zstd",
        "linger.ms": 20,
        # e.g. the SASL_SSL settings, as JSON
        **json.loads(os.environ.get("KAFKA_EXTRA_CONFIG", "{}")),
    }
)
p.init_transactions(30)

# 1: committed. Keyed and keyless records, a tombstone, a record with binary headers.
p.begin_transaction()
for i in range(100):
    p.produce(topic, key=f"k{i}".encode(), value=event("committed", i), partition=i % 3)
for i in range(10):
    p.produce(topic, value=event("keyless", i), partition=i % 3)
p.produce(topic, key=b"tomb", value=None, partition=0)
p.produce(
    topic,
    key=b"poison",
    value=b'{"event_id": "broken", ',
    headers=[("bin", bytes([0, 255, 1, 128])), ("origin", b"python")],
    partition=1,
)
p.commit_transaction(30)

# 2: aborted after its records reached the broker.
p.begin_transaction()
for i in range(50):
    p.produce(topic, key=f"a{i}".encode(), value=event("aborted", i), partition=i % 3)
p.flush(30)
p.abort_transaction(30)

# 3: committed again.
p.begin_transaction()
for i in range(100, 200):
    p.produce(topic, key=f"k{i}".encode(), value=event("committed", i), partition=i % 3)
p.commit_transaction(30)
print("ok")
