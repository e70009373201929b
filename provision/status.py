"""`provision status`: machines, Kubernetes nodes and add-ons as one mapping
(printed as tables, or as JSON with --json). Kubernetes is asked through the
lab's admin kubeconfig, at the control plane's node address. The nightly schedule,
when the lab has one, comes from its unit files and systemd (provision/schedule.py)."""

from __future__ import annotations

import json
import shutil
import subprocess

from provision.addons.values import web_urls
from provision.config.model import ClusterConfig
from provision.project import Inventory
from provision.runlog import RunLog
from provision.schedule import schedule_status
from provision.sources import bundle_dir


def _kubectl(inv: Inventory, config: ClusterConfig, *args: str) -> dict | str:
    """Parsed JSON, or the reason it could not be asked."""
    kubeconfig = inv.state_dir / "kubeconfig"
    if not kubeconfig.exists():
        return "no kubeconfig yet (run `provision up`)"
    bundled = bundle_dir(config) / "bin" / "kubectl"
    kubectl = str(bundled) if bundled.is_file() else shutil.which("kubectl")
    if kubectl is None:
        return "no kubectl (bundle or PATH)"
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "--request-timeout", "10s", *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return (out.stderr.strip().splitlines() or ["kubectl failed"])[-1]
    return json.loads(out.stdout)


def collect(inv: Inventory, config: ClusterConfig, log: RunLog) -> dict:
    from provision.machines.factory import machines_for

    machines = [
        {
            "name": m.name,
            "state": m.state,
            "provider": m.provider,
            "node_ip": m.node_ip,
            "ssh": m.ssh or "",
        }
        for m in machines_for(inv, config, log).status()
    ]
    nodes: dict | list[dict] | str = _kubectl(inv, config, "get", "nodes")
    if isinstance(nodes, dict):
        nodes = [
            {
                "name": n["metadata"]["name"],
                "ready": {c["type"]: c["status"] for c in n["status"]["conditions"]}.get("Ready")
                == "True",
                "version": n["status"]["nodeInfo"]["kubeletVersion"],
                "internal_ip": next(
                    (a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"),
                    "",
                ),
            }
            for n in nodes["items"]
        ]
    addons: dict | list[dict] | str = _kubectl(
        inv, config, "-n", "addons", "get", "deployments,statefulsets,daemonsets"
    )
    if isinstance(addons, dict):
        urls = web_urls(str(config.control_plane.ip))
        addons = [
            {
                "name": w["metadata"]["name"],
                "kind": w["kind"],
                "ready": (
                    w["status"].get("numberReady", 0)
                    if w["kind"] == "DaemonSet"
                    else w["status"].get("readyReplicas", 0)
                ),
                "wanted": (
                    w["status"].get("desiredNumberScheduled", 0)
                    if w["kind"] == "DaemonSet"
                    else w["spec"].get("replicas", 0)
                ),
                "url": urls.get(w["metadata"]["name"], ""),
            }
            for w in addons["items"]
        ]
    return {
        "cluster": config.cluster.name,
        "machines": machines,
        "nodes": nodes,
        "addons": addons,
        "schedule": schedule_status(inv),
    }
