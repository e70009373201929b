"""join: the workers join the cluster, then a probe pod on every node reaches the
others over the pod network and resolves kubernetes.default (playbooks/join.yml)."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.phases.base import Phase


class Join(Phase):
    name = "join"
    summary = "workers join the cluster"
    playbook = "join.yml"
    starts = ("kubelet",)

    def changes(self, config: ClusterConfig, provider: str) -> str:
        return f"kubeadm join on {', '.join(n.name for n in config.workers) or '(none)'}"
