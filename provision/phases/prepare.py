"""prepare: the base OS settings every node needs (playbooks/prepare.yml)."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.phases.base import Phase, nodes


class Prepare(Phase):
    name = "prepare"
    summary = "hostname, /etc/hosts, swap, kernel modules, sysctls, time sync"
    playbook = "prepare.yml"
    node_local = True

    def changes(self, config: ClusterConfig, provider: str) -> str:
        return f"base OS settings on {nodes(config)}"
