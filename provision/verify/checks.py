"""The cluster's checks `provision verify` runs (each add-on's are in its folder,
provision/addons/<name>/). Each does the part's real job, inside the
cluster (kubectl on the control-plane node, commands in the add-on pods); the
host sends nothing to pod or service addresses. Passwords stay in the pods:
commands read them from the pods' own environment.

A check returns a detail line or raises CheckFailed. Add-ons the config marks
validate_only are checked with a server-side dry run of their manifests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

# What a check is and the helpers checks share live with the add-ons, whose own
# checks are in their folders (provision/addons/<name>/); these are the cluster's.
from provision.addons.base import NS, Check, CheckFailed, in_pod, probe_image, token
from provision.remote import RUN, cluster_nodes, kubectl

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


def systemd_running(sh) -> str:
    """The node's systemd reports every unit it started running (not "degraded": a
    unit that cannot run on this kind of node is left out or masked, never left
    failed); a manager still starting is asked again for a minute."""
    for _ in range(12):
        state = sh(["systemctl", "is-system-running"], check=False).strip()
        if state != "starting":
            break
        time.sleep(5)
    if state == "running":
        return "systemctl is-system-running: running"
    failed = sh(["systemctl", "--failed", "--plain", "--no-legend"], check=False).split("\n")
    units = ", ".join(line.split()[0] for line in failed if line.strip()) or "none listed"
    raise CheckFailed(f"systemd is {state or 'not answering'}; failed units: {units}")


def storage_roundtrip(wait: int) -> Callable[[Callable[..., str]], str]:
    """A pod that writes to the verify claim and reads it back, waited for `wait`
    seconds (120 times the machines' wait_scale: under emulation the pod that mounts
    NFS on a worker VM took more than 120 s, measured 2026-12-04)."""

    def run(sh) -> str:
        value = token()
        pod = f"provision-verify-{value[-6:]}"
        script = f"echo {value} > /data/{value} && cat /data/{value} && rm /data/{value}"
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
                        "command": ["/bin/busybox", "sh", "-c", script],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "provision-verify"}}
                ],
            },
        }
        return _run_pod(sh, pod, spec, value, wait)

    return run


def _run_pod(sh, pod: str, spec: dict, value: str, wait: int) -> str:
    claim = json.loads(sh(kubectl("-n", NS, "get", "pvc", "provision-verify", "-o", "json")))
    claim_class = claim["spec"].get("storageClassName")
    image = probe_image(sh)
    text = json.dumps(spec).replace('"{probe}"', json.dumps(image))
    sh([RUN, "--text", text, "--", *kubectl("apply", "-f", "-")])
    try:
        sh(
            [
                *kubectl(
                    "-n", NS, "wait", f"pod/{pod}", "--for=jsonpath={.status.phase}=Succeeded"
                ),
                f"--timeout={wait}s",
            ],
            timeout=wait + 60,
        )
        out = sh(kubectl("-n", NS, "logs", pod))
    finally:
        sh(kubectl("-n", NS, "delete", "pod", pod, "--wait=false", "--ignore-not-found"))
    if value not in out:
        raise CheckFailed(f"the pod did not read back what it wrote (got {out.strip()!r})")
    return f"claim provision-verify (class {claim_class}) bound; a pod wrote and read {value}"


def dry_run(manifest: Path) -> Callable[[Callable[[str], str]], str]:
    """The API server's strict dry run of a manifest rendered on the operator's
    side (`<state>/addons/`; no credentials in it): sent with the command, so
    nothing is written on the node."""

    def run(sh) -> str:
        try:
            text = manifest.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
            raise CheckFailed(
                f"cannot read {manifest} ({why}); the addons phase renders it: "
                "run `provision up --from addons`"
            ) from None
        out = sh(
            [
                *(RUN, "--text", text, "--"),
                *kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-"),
            ]
        )
        count = sum(1 for line in out.splitlines() if line.endswith("(server dry run)"))
        return f"{count} objects accepted by the API server (server-side dry run, strict)"

    return run
