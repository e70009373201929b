"""The phases of `provision up`, in order: the flow made explicit.

A phase says, for a given config, what it will change (`provision plan` prints
it); up.py runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provision.config.model import ClusterConfig
from provision.sources import resolve_sources, runtime_packages


@dataclass(frozen=True)
class Phase:
    name: str
    summary: str
    changes: Callable[[ClusterConfig, str], str]


def _nodes(c: ClusterConfig) -> str:
    return ", ".join(n.name for n in c.nodes)


def _artifacts(c: ClusterConfig) -> str:
    """Where the kubernetes phase takes its binaries and images, as up resolves it."""
    sources = resolve_sources(c)
    if sources.artifacts == "bundle":
        return f"offline bundle ({sources.bundle_dir})"
    return "upstream release and registries"


def _workers(c: ClusterConfig) -> str:
    return ", ".join(n.name for n in c.workers) or "(none)"


PHASES: tuple[Phase, ...] = (
    Phase(
        "machines",
        "create and start the machines, write the inventory",
        lambda c, p: (
            f"{p}: {len(c.nodes)} machines ({_nodes(c)}) on {c.network.node_subnet}"
            if p != "ssh"
            else f"checks SSH to existing hosts {_nodes(c)} (pinned host keys)"
        ),
    ),
    Phase(
        "prepare",
        "hostname, /etc/hosts, swap, kernel modules, sysctls, time sync",
        lambda c, p: f"base OS settings on {_nodes(c)}",
    ),
    Phase(
        "runtime",
        "Docker Engine and containerd (the kubelet's one CRI)",
        lambda c, p: f"{', '.join(runtime_packages(c).values())} on {_nodes(c)}",
    ),
    Phase(
        "kubernetes",
        "kubeadm, kubelet, kubectl and images",
        lambda c, p: (
            f"Kubernetes {c.versions.kubernetes} binaries and images from the "
            f"{_artifacts(c)} on {_nodes(c)}"
        ),
    ),
    Phase(
        "control-plane",
        "kubeadm init, admin kubeconfig",
        lambda c, p: f"kubeadm init on {c.control_plane.name} ({c.control_plane.ip})",
    ),
    Phase(
        "network",
        "Calico",
        lambda c, p: (
            f"Calico {c.versions.calico}, {c.network.encapsulation}, pool {c.network.pod_cidr}"
        ),
    ),
    Phase(
        "join",
        "workers join the cluster",
        lambda c, p: f"kubeadm join on {_workers(c)}",
    ),
    Phase(
        "addons",
        "NFS storage, MySQL, RabbitMQ, Zipkin, ELK",
        lambda c, p: "deploys " + (", ".join(c.addons.enabled()) or "nothing (all disabled)"),
    ),
    Phase(
        "verify",
        "prove every part does its job",
        lambda c, p: "changes nothing: runs checks inside the nodes",
    ),
)

PHASE_NAMES = tuple(p.name for p in PHASES)
