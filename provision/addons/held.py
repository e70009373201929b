"""Which claims' data lives only on one node: the local (or hostPath) volumes bound
to a claim with that node in their node affinity, read from `kubectl get pv -o json`
as the API server returns it. Node operations and `up` ask it before a node's
machine is replaced, removed or made again."""

from __future__ import annotations

import json

from provision.remote import Shell, kubectl


def held_on(sh: Shell, name: str) -> dict[str, str]:
    """{namespace/claim: description} of the volumes bound to claims whose data
    lives only on node `name` (volumes annotated provision.io/scratch excepted)."""
    pvs = json.loads(sh(kubectl("get", "pv", "-o", "json")))["items"]
    held = {}
    for pv in pvs:
        spec = pv["spec"]
        if "local" not in spec and "hostPath" not in spec:
            continue
        terms = spec.get("nodeAffinity", {}).get("required", {}).get("nodeSelectorTerms", [])
        nodes = {v for t in terms for e in t.get("matchExpressions", []) for v in e["values"]}
        scratch = pv["metadata"].get("annotations", {}).get("provision.io/scratch") == "true"
        if name in nodes and pv["status"].get("phase") == "Bound" and not scratch:
            ref = spec.get("claimRef", {})
            claim = f"{ref.get('namespace')}/{ref.get('name')}"
            held[claim] = f"{pv['metadata']['name']} (claim {claim}, {spec['capacity']['storage']})"
    return held
