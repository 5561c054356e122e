"""The official Elasticsearch Python client (PyPI `elasticsearch`, 8.x or 9.x: nobody here wrote
it) shipping documents to ferry's `_bulk` door, for test/integration/bulk-python.test.ts.

Usage: python es_bulk_client.py '<json spec>'; spec keys:
  url, auth ("api_key" | "basic" | "bearer" | "none"), token, helper ("bulk" | "streaming_bulk"),
  prefix, count, start (first number), chunk_size, pad (bytes of padding per document),
  with_ids (every other document gets an _id), http_compress, retries (streaming_bulk's max_retries)
Prints one JSON object: {"version", "info", "ok", "failed", "items": [[status, _index, _id], ...]}.
The transport's own retry is off, so a 429 is retried by the helper (streaming_bulk's max_retries,
with backoff): the retry the helpers document for Elasticsearch's 429.
"""
import json
import sys

import elasticsearch
from elasticsearch import Elasticsearch, helpers

spec = json.loads(sys.argv[1])
kw = {"request_timeout": 60, "max_retries": 0, "retry_on_status": ()}
if spec.get("http_compress"):
    kw["http_compress"] = True
auth = spec.get("auth", "none")
if auth == "api_key":
    kw["api_key"] = spec["token"]
elif auth == "basic":
    kw["basic_auth"] = ("elastic", spec["token"])
elif auth == "bearer":
    kw["bearer_auth"] = spec["token"]
es = Elasticsearch(spec["url"], **kw)

prefix = spec["prefix"]
indices = [f"{prefix}-logs", f"{prefix}-metrics"]


def actions():
    start = spec.get("start", 0)
    for i in range(start, start + spec["count"]):
        doc = {
            "_index": indices[i % 2],
            "seq": i,
            "prefix": prefix,
            "msg": f"document {i} é ✓",
            "pad": "x" * spec.get("pad", 0),
        }
        if spec.get("with_ids") and i % 2 == 0:
            doc["_id"] = f"{prefix}-{i}"
        if i % 3 == 0:
            doc["_op_type"] = "create"
        yield doc


out = {"version": elasticsearch.__versionstr__, "info": es.info().body}
items = []
failed = 0
if spec["helper"] == "bulk":
    ok, errors = helpers.bulk(
        es, actions(), chunk_size=spec.get("chunk_size", 500), raise_on_error=False, stats_only=False
    )
    failed = len(errors)
    out["ok"] = ok
    out["errors"] = errors
else:
    ok = 0
    for success, info in helpers.streaming_bulk(
        es,
        actions(),
        chunk_size=spec.get("chunk_size", 500),
        max_retries=spec.get("retries", 0),
        initial_backoff=0.1,
        max_backoff=0.5,
        raise_on_error=False,
    ):
        op, result = next(iter(info.items()))
        items.append([result["status"], result.get("_index"), result.get("_id")])
        if success:
            ok += 1
        else:
            failed += 1
    out["ok"] = ok
out["failed"] = failed
out["items"] = items
print(json.dumps(out))
