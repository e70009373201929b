"""machines: create and start the machines (or reach existing hosts), pin their SSH
host keys, write the inventory."""

from __future__ import annotations

import time

from provision.config.model import ClusterConfig
from provision.files import write_state
from provision.machines.providers import provider_class
from provision.phases.base import Context, Phase, nodes


class Machines(Phase):
    name = "machines"
    summary = "create and start the machines, write the inventory"

    def changes(self, config: ClusterConfig, provider: str) -> str:
        if provider_class(provider).existing:
            return f"checks SSH to existing hosts {nodes(config)} (pinned host keys)"
        return (
            f"{provider}: {len(config.nodes)} machines ({nodes(config)}) on "
            f"{config.network.node_subnet}"
        )

    def run(self, up: Context) -> None:
        up.restarted_at = time.time()
        up.restarted = up.machines.up()
        endpoints = up.machines.endpoints()
        write_state(up.inv.state_dir / "known_hosts", up.machines.known_hosts(endpoints))
        up.refresh_inventory(endpoints)
        up.log.say(f"machines: inventory written to {up.inv.hosts_file}")
