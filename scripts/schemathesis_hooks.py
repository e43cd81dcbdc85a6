"""Schemathesis hooks for the Sổ tay device API (scripts/schemathesis.sh).

The document declares `Content-Encoding: gzip` on the request bodies the server takes
compressed (the app always compresses its pushes). Schemathesis generates that header but
does not compress bodies itself: this serializer gzips the JSON when the generated request
says gzip, so that both plain and compressed bodies reach the server as a client sends them.
"""

import gzip
import json

import schemathesis
from schemathesis.transport.serialization import serialize_json


def _bytes(value):
    """The body as schemathesis itself would send it, as bytes."""
    out = serialize_json(value)
    if "data" in out:
        return out["data"]
    return json.dumps(out["json"], ensure_ascii=False, default=str).encode("utf-8")


@schemathesis.serializer("application/json")
def json_or_gzip(ctx, value):
    data = _bytes(value)
    headers = (ctx.case.headers or {}) if ctx.case is not None else {}
    coding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), None)
    if isinstance(coding, str) and coding.strip().lower() == "gzip":
        return gzip.compress(data)
    return data
