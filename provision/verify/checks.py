"""The cluster's checks `provision verify` runs (each add-on's are in its folder,
provision/addons/<name>/). Each does the part's real job, inside the
cluster (kubectl on the control-plane node, commands in the add-on pods); the
host sends nothing to pod or service addresses. Passwords stay in the pods:
commands read them from the pods' own environment.

A check returns a detail line or raises CheckFailed. Add-ons the config marks
validate_only are checked with a server-side dry run of their manifests.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

# What a check is and the helpers checks share live with the add-ons, whose own
# checks are in their folders (provision/addons/<name>/); these are the cluster's.
from provision.addons.base import NS, Check, CheckFailed, in_pod, probe_image, token
from provision.remote import KUBECTL, cluster_nodes

__all__ = ["NS", "Check", "CheckFailed", "in_pod", "probe_image", "token"]  # shared, re-exported


def nodes_ready(sh) -> str:
    nodes = cluster_nodes(sh)
    not_ready = [
        n["metadata"]["name"]
        for n in nodes
        if {c["type"]: c["status"] for c in n["status"]["conditions"]}.get("Ready") != "True"
    ]
    if not_ready:
        raise CheckFailed(f"nodes not Ready: {', '.join(not_ready)}")
    return f"{len(nodes)} nodes Ready"


def storage_roundtrip(sh) -> str:
    value = token()
    pod = f"provision-verify-{value[-6:]}"
    spec = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod, "namespace": NS},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "rw",
                    "image": "{probe}",
                    "imagePullPolicy": "Never",
                    "command": [
                        "/bin/busybox",
                        "sh",
                        "-c",
                        f"echo {value} > /data/{value} && cat /data/{value} && rm /data/{value}",
                    ],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "provision-verify"}}
            ],
        },
    }
    return _run_pod(sh, pod, spec, value)


def _run_pod(sh, pod: str, spec: dict, value: str) -> str:
    claim = json.loads(sh(f"{KUBECTL} -n {NS} get pvc provision-verify -o json"))
    claim_class = claim["spec"].get("storageClassName")
    image = probe_image(sh)
    text = json.dumps(spec).replace('"{probe}"', json.dumps(image))
    sh(f"echo '{text}' | {KUBECTL} apply -f -")
    try:
        sh(
            f"{KUBECTL} -n {NS} wait pod/{pod} --for=jsonpath='{{.status.phase}}'=Succeeded "
            "--timeout 120s"
        )
        out = sh(f"{KUBECTL} -n {NS} logs {pod}")
    finally:
        sh(f"{KUBECTL} -n {NS} delete pod {pod} --wait=false --ignore-not-found")
    if value not in out:
        raise CheckFailed(f"the pod did not read back what it wrote (got {out.strip()!r})")
    return f"claim provision-verify (class {claim_class}) bound; a pod wrote and read {value}"


def dry_run(manifest: Path) -> Callable[[Callable[[str], str]], str]:
    """The API server's strict dry run of a manifest rendered on the operator's
    side (`<state>/addons/`; no credentials in it): sent with the command, as
    base64, so nothing is written on the node."""

    def run(sh) -> str:
        try:
            data = base64.b64encode(manifest.read_bytes()).decode()
        except OSError as e:
            raise CheckFailed(
                f"cannot read {manifest} ({e.strerror}); the addons phase renders it: "
                "run `provision up --from addons`"
            ) from None
        out = sh(
            f"echo {data} | base64 -d | {KUBECTL} apply --dry-run=server --validate=strict -f -"
        )
        count = sum(1 for line in out.splitlines() if line.endswith("(server dry run)"))
        return f"{count} objects accepted by the API server (server-side dry run, strict)"

    return run
