"""runtime: Docker Engine and containerd (or cri-dockerd) on every node
(playbooks/runtime.yml)."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.phases.base import Phase, nodes
from provision.sources import runtime_packages


class Runtime(Phase):
    name = "runtime"
    summary = "Docker Engine and containerd (the kubelet's one CRI)"
    playbook = "runtime.yml"
    node_local = True
    starts = ("containerd", "docker", "cri-docker")

    def changes(self, config: ClusterConfig, provider: str) -> str:
        return f"{', '.join(runtime_packages(config).values())} on {nodes(config)}"
