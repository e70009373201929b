"""What every kind of machines offers the rest of the flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from provision.config.model import ClusterConfig


@dataclass(frozen=True)
class SshEndpoint:
    """How Ansible and fabric reach one node."""

    host: str
    port: int
    user: str
    private_key: str


def static_endpoints(config: ClusterConfig) -> dict[str, SshEndpoint]:
    """Endpoints known from the config alone (existing hosts, or before machines exist)."""
    ssh = config.machines.ssh
    user = ssh.user if ssh else "root"
    port = ssh.port if ssh else 22
    key = ssh.private_key if ssh else ""
    return {n.name: SshEndpoint(n.address or str(n.ip), port, user, key) for n in config.nodes}


# A machine that exists and is stopped, in each provider's words (docker, libvirt,
# VirtualBox): `provision up` starts it again.
HALTED = frozenset({"stopped", "shutoff", "poweroff", "saved", "aborted"})


@dataclass(frozen=True)
class MachineState:
    name: str
    state: str  # running, stopped, not_created, unreachable, ...
    provider: str
    node_ip: str
    ssh: str  # host:port, or "" when unknown


class Machines(Protocol):
    provider: str

    def up(self) -> list[str]:
        """Make or start every machine; the names of those that existed and were
        started again (a halted lab, a restarted engine or host)."""
        ...

    def halt(self) -> list[str]:
        """Stop every running machine, keeping machines, disks and volumes; the names
        stopped."""
        ...

    def status(self) -> list[MachineState]: ...

    def endpoints(self) -> dict[str, SshEndpoint]: ...

    def known_hosts(self, endpoints: dict[str, SshEndpoint]) -> str: ...

    def destroy(self) -> None: ...

    def destroy_one(self, name: str) -> None:
        """Remove one machine (node replace and remove); an existing host is never
        destroyed: it is reset instead."""
        ...
