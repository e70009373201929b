"""`provision status`: machines, Kubernetes nodes and add-ons as one mapping
(printed as tables, or as JSON with --json). Kubernetes is asked through the
lab's admin kubeconfig, at the control plane's node address. The nightly schedule,
when the lab has one, comes from its unit files and systemd (provision/schedule.py)."""

from __future__ import annotations

import json
import shutil
import subprocess

from provision.addons.manifests import NAMESPACE
from provision.addons.values import web_urls
from provision.config.model import ClusterConfig
from provision.machines.base import HALTED
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


def addon_rows(workloads: dict, control_plane_ip: str) -> list[dict]:
    """One row per add-on workload (`kubectl get -o json` of the add-ons' namespace):
    ready and wanted replicas, and its web address where it has one (pure)."""
    urls = web_urls(control_plane_ip)
    return [
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
        for w in workloads["items"]
    ]


def what_up_does(states: dict[str, str], resume_at: str | None) -> str:
    """What `provision up` will do about machines in these states (pure)."""
    made = [n for n, s in states.items() if s == "not_created"]
    halted = [n for n, s in states.items() if s in HALTED]
    odd = [f"{n} ({s})" for n, s in states.items() if s not in HALTED | {"running", "not_created"}]
    if len(made) == len(states):
        return "no machines: `provision up` makes the lab"
    steps = []
    if made:
        steps.append(f"makes {', '.join(made)}")
    if halted:
        steps.append(f"starts {', '.join(halted)} again (halted), waits for the lab to settle")
    if odd:
        steps.append(f"brings {', '.join(odd)} back to running")
    if resume_at:
        steps.append(f"resumes at phase {resume_at} (the last up stopped there)")
    elif not made:
        steps.append("skips the playbooks that converged")
    steps.append("verifies")
    state = (
        "running"
        if not (made or halted or odd)
        else "halted"
        if len(halted) == len(states)
        else "partly running"
    )
    return f"{state}: `provision up` " + ", ".join(steps)


def collect(inv: Inventory, config: ClusterConfig, log: RunLog, certs: bool = True) -> dict:
    from provision.inventory import read_endpoints
    from provision.machines.factory import machines_for
    from provision.phase_state import PhaseState
    from provision.phases import PHASE_NAMES

    found = machines_for(inv, config, log).status()
    known = read_endpoints(inv.hosts_file) or {}
    machines = [
        {
            "name": m.name,
            "state": m.state,
            "provider": m.provider,
            "node_ip": m.node_ip,
            # the engine says no address: the inventory the machines phase wrote does
            "ssh": m.ssh
            or (
                f"{known[m.name].host}:{known[m.name].port}"
                if m.state == "running" and m.name in known
                else ""
            ),
        }
        for m in found
    ]
    states = {m.name: m.state for m in found}
    resume_at = PhaseState.load(inv.state_dir, inv.cluster_file).resume_point(PHASE_NAMES)
    data = {
        "cluster": config.cluster.name,
        "lab": what_up_does(states, resume_at),
        "machines": machines,
        "nodes": "the control plane is not running",
        "addons": "the control plane is not running",
        "certificates": "the control plane is not running",
        "schedule": schedule_status(inv),
    }
    if states.get(config.control_plane.name) != "running":
        return data
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
        inv, config, "-n", NAMESPACE, "get", "deployments,statefulsets,daemonsets"
    )
    if isinstance(addons, dict):
        addons = addon_rows(addons, str(config.control_plane.ip))
    data.update(nodes=nodes, addons=addons)
    if certs:
        data["certificates"] = _certificates(
            inv, config, [n for n, s in states.items() if s == "running"]
        )
    return data


def _certificates(inv: Inventory, config: ClusterConfig, running: list[str]) -> dict | str:
    """The earliest expiry among the running nodes' certificates, or why unknown."""
    from provision.certs import describe, expiries, summary
    from provision.errors import ProvisionError

    if not inv.hosts_file.exists() or not (inv.state_dir / "kubeconfig").exists():
        return "no cluster yet (run `provision up`)"
    try:
        found = expiries(inv, config, running)
    except ProvisionError as e:
        return str(e).splitlines()[0]
    return {**summary(found), "line": describe(found)}
