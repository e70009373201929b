"""Pick the machines implementation a config asks for."""

from __future__ import annotations

import json

from provision.config.model import ClusterConfig
from provision.machines.provider import resolve_provider
from provision.project import Inventory
from provision.runlog import RunLog


def recorded_provider(inv: Inventory) -> str | None:
    """The provider the lab's machines were made with, if any were."""
    try:
        return json.loads((inv.state_dir / "machines.json").read_text())["provider"]
    except (OSError, ValueError, KeyError):
        return None


def machines_for(inv: Inventory, config: ClusterConfig, log: RunLog, provider: str | None = None):
    provider = provider or recorded_provider(inv) or resolve_provider(config)
    if provider == "ssh":
        from provision.machines.ssh_hosts import SshHosts

        return SshHosts(config, inv.dir, log)
    from provision.machines.vagrant import VagrantMachines

    return VagrantMachines(inv, config, provider, log)
