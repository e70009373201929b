"""Zipkin: a Deployment (zipkin.yaml.j2), spans in memory or in Elasticsearch;
verify posts a span and reads its trace back."""

from __future__ import annotations

import json
import secrets
import time

from provision.addons.base import Addon, Check, CheckFailed, in_pod
from provision.bundle.addon_images import ImageRecipe


def roundtrip(sh) -> str:
    trace = secrets.token_hex(8)
    span = json.dumps(
        [
            {
                "traceId": trace,
                "id": trace,
                "name": "provision-verify",
                "timestamp": int(time.time() * 1_000_000),
                "duration": 1000,
                "localEndpoint": {"serviceName": "provision-verify"},
            }
        ]
    )
    api = "http://127.0.0.1:9411/api/v2"
    pod = "deploy/zipkin"
    sh(in_pod(pod, f"curl -sf -X POST {api}/spans -H content-type:application/json -d '{span}'"))
    for _ in range(10):
        out = sh(in_pod(pod, f"curl -s {api}/trace/{trace}"))
        try:
            spans = json.loads(out)
        except ValueError:
            spans = []
        if any(s.get("id") == trace for s in spans if isinstance(s, dict)):
            return f"accepted span {trace} and returned it in its trace"
        time.sleep(1)
    raise CheckFailed(f"trace {trace} not returned after posting its span")


ADDON = Addon(
    name="zipkin",
    package=__name__,
    parts=("zipkin",),
    images={"zipkin": ("docker.io/openzipkin/zipkin", "{v}")},
    # Zipkin's exec jar (versions.zipkin, from Maven Central) on Debian's Java
    built_images=(ImageRecipe("zipkin", "zipkin", __name__, "provision-zipkin", maven="zipkin"),),
    node_ports={"zipkin": 30008},
    workloads={"zipkin": "deployment/zipkin"},
    part_checks={"zipkin": (Check("zipkin", "accept a span, return its trace", roundtrip),)},
)
