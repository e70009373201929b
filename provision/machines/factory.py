"""Pick the machines implementation a config asks for."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.files import read_json, refuse
from provision.machines.provider import resolve_provider
from provision.project import Inventory
from provision.runlog import RunLog

# What machines.json may name: the Vagrant providers, and existing hosts.
PROVIDERS = ("virtualbox", "libvirt", "docker", "ssh")


def recorded_provider(inv: Inventory) -> str | None:
    """The provider the lab's machines were made with, if any were."""
    from provision.machines.vagrant import SPEC, spec_fix

    path = inv.state_dir / "machines.json"
    data = read_json(path, SPEC, fix=spec_fix(path))
    if data is None or "provider" not in data:
        return None
    if data["provider"] not in PROVIDERS:
        problem = f"its provider is none of {', '.join(PROVIDERS)}"
        raise refuse(path, SPEC, problem, spec_fix(path))
    return data["provider"]


def machines_for(inv: Inventory, config: ClusterConfig, log: RunLog, provider: str | None = None):
    provider = provider or recorded_provider(inv) or resolve_provider(config)
    if provider == "ssh":
        from provision.machines.ssh_hosts import SshHosts

        return SshHosts(config, inv.dir, log)
    from provision.machines.vagrant import VagrantMachines

    return VagrantMachines(inv, config, provider, log)
