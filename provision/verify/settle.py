"""Before verify looks at a lab whose machines this run started again (a halted lab,
the Docker engine or the host restarted): wait until what ran before the stop runs
again. Its playbooks are skipped as converged, so nothing else waits for it.

"Again" is judged by time, not by the state Kubernetes last recorded, which is
stale until each kubelet reports: a started node counts once its Ready condition
was reported after `since`, a pod on it once it turned Ready after `since` (or has
completed). Only the namespaces provision fills are looked at (the system's and the
add-ons'): a user's pod that never starts is not provision's to wait for. Then every
add-on's rollout is complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from provision.errors import NodeStepFailed
from provision.remote import kubectl

if TYPE_CHECKING:
    from provision.config import ClusterConfig

POLL = 3  # seconds between looks


class NotSettled(NodeStepFailed):
    """The lab did not come back in time after its machines started again."""


def _when(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _ready(obj: dict) -> dict:
    return next(
        (c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), {}
    )


def waiting_for(
    nodes: dict, pods: dict, started: set[str], since: float, namespaces: set[str]
) -> list[str]:
    """What has not come back yet (pure: the parsed `kubectl get -o json` of nodes
    and of every namespace's pods)."""
    left = []
    for node in nodes.get("items", []):
        name = node["metadata"]["name"]
        if name not in started:
            continue
        ready = _ready(node)
        if ready.get("status") != "True" or _when(ready.get("lastHeartbeatTime")) < since:
            left.append(f"node {name}")
    for pod in pods.get("items", []):
        if pod.get("spec", {}).get("nodeName") not in started:
            continue
        if pod["metadata"].get("namespace") not in namespaces:
            continue
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        ready = _ready(pod)
        if ready.get("status") != "True" or _when(ready.get("lastTransitionTime")) < since:
            meta = pod["metadata"]
            left.append(f"pod {meta['namespace']}/{meta['name']}")
    return left


def settle(
    sh: Callable[..., str],
    started: list[str],
    since: float,
    workloads: list[str],
    namespace: str,
    timeout: float,
    say: Callable[[str], None],
    after: str = "",
) -> float:
    """Wait (at most `timeout` s) for the API server, then for the started nodes and
    their pods, then for each add-on's rollout; the seconds it took. `after`: what the
    lab is waited on after, in the error (by default its machines starting again)."""
    begin = time.monotonic()
    deadline = begin + timeout
    left: list[str] = ["the API server"]
    while time.monotonic() < deadline:
        try:
            sh(kubectl("get", "--raw", "/readyz"), timeout=30)
            nodes = json.loads(sh(kubectl("get", "nodes", "-o", "json"), timeout=30))
            pods = json.loads(sh(kubectl("get", "pods", "-A", "-o", "json"), timeout=60))
        except NodeStepFailed as e:
            left = [f"the API server ({str(e).splitlines()[-1][:200]})"]
        else:
            left = waiting_for(nodes, pods, set(started), since, {"kube-system", namespace})
            if not left:
                break
        time.sleep(POLL)
    else:
        what = after or f"its machines ({', '.join(started)}) started again"
        shown = ", ".join(left[:8]) + (f" and {len(left) - 8} more" if len(left) > 8 else "")
        raise NotSettled(
            f"the lab did not come back {timeout:.0f} s after {what}: "
            f"still waiting for {shown}\n"
            "  fix: `provision diagnose` collects why; the same command again resumes"
        )
    for w in workloads:
        rest = max(10, int(deadline - time.monotonic()))
        sh(
            kubectl("-n", namespace, "rollout", "status", w, f"--timeout={rest}s"),
            timeout=rest + 30,
        )
    took = time.monotonic() - begin
    say(
        f"settle: {', '.join(started)} back: nodes Ready, their pods Ready again"
        f"{', add-ons rolled out' if workloads else ''} ({took:.1f} s)"
    )
    return took


def settle_lab(
    sh: Callable[..., str],
    config: ClusterConfig,
    started: list[str],
    since: float,
    say: Callable[[str], None],
    after: str = "",
    provider: str | None = None,
) -> float:
    """`settle` for this lab: its add-ons' rollouts in provision's namespace, within
    600 s times its machines' wait_scale."""
    from provision.addons.deploy import workloads
    from provision.addons.manifests import NAMESPACE
    from provision.playbooks.kubeadm import wait_scale

    timeout = 600 * wait_scale(config, provider)
    return settle(sh, started, since, workloads(config), NAMESPACE, timeout, say, after)
