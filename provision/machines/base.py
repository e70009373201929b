"""What every kind of machines offers the rest of the flow: the interface each
provider (machines/providers/: docker, libvirt, virtualbox, existing hosts)
implements, and the host checks they return."""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from provision.config.model import ClusterConfig
from provision.errors import Problem
from provision.project import Inventory
from provision.runlog import RunLog


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


@dataclass(frozen=True)
class Check:
    """One check of this host for a provider (`provision doctor`, `up`'s preflight)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    # ok but worth knowing (e.g. VMs under software emulation): not a failure
    warning: bool = False


def tool_check(name: str, fix: str) -> Check:
    path = shutil.which(name)
    return Check(name, path is not None, path or "not found", fix)


class Machines(ABC):
    """One provider of machines. What a caller needs to know about a provider is
    here, so no code outside a provider's own module asks which provider it is."""

    provider: ClassVar[str]  # the name machines.json records
    # nodes provision did not make: never halted or destroyed, only reset
    existing: ClassVar[bool] = False
    # nodes that share this host's kernel (the kubelet's container settings)
    containers: ClassVar[bool] = False
    # Seconds Vagrant waits for a machine to boot to SSH (Vagrant's own default),
    # and lets `vagrant halt` shut it down cleanly before forcing it off (a node's
    # systemd stops the kubelet, the runtime and the add-ons' databases first).
    BOOT_TIMEOUT_S: ClassVar[int] = 300
    HALT_TIMEOUT_S: ClassVar[int] = 120

    # -- this host and a config, before any machine exists --------------------
    @classmethod
    @abstractmethod
    def host_checks(cls, config: ClusterConfig) -> list[Check]:
        """What this host needs for this provider (tools, services, the box)."""

    @classmethod
    def host_problems(cls, config: ClusterConfig) -> list[Problem]:
        """Problems of the config on this host (networks, boxes), as config errors."""
        return []

    @classmethod
    def needed_memory_mb(cls, config: ClusterConfig) -> int:
        return 0

    @classmethod
    def timeouts(cls) -> tuple[int, int]:
        """(boot, halt) seconds for machines.json."""
        return cls.BOOT_TIMEOUT_S, cls.HALT_TIMEOUT_S

    @classmethod
    def static_spec(cls, config: ClusterConfig) -> dict:
        """machines.json (what the Vagrantfile reads) as far as the config and this
        host decide it: what `provision render` writes."""
        from provision.machines.spec import machines_spec

        boot, halt = cls.timeouts()
        return machines_spec(config, cls.provider, boot, halt)

    @classmethod
    def wait_scale(cls) -> int:
        """How many times longer the roles wait for nodes, pods and the API server
        on these machines (VMs under software emulation: several)."""
        return 1

    @classmethod
    def needed_disk_gb(cls, config: ClusterConfig) -> int:
        return 0

    # -- the lab's machines -------------------------------------------------------
    @classmethod
    def for_lab(cls, inv: Inventory, config: ClusterConfig, log: RunLog) -> Machines:
        return cls(inv, config, log)  # type: ignore[call-arg]

    @abstractmethod
    def up(self) -> list[str]:
        """Make or start every machine; the names of those that existed and were
        started again (a halted lab, a restarted engine or host)."""

    @abstractmethod
    def halt(self) -> list[str]:
        """Stop every running machine, keeping machines, disks and volumes; the names
        stopped."""

    @abstractmethod
    def status(self) -> list[MachineState]: ...

    @abstractmethod
    def endpoints(self) -> dict[str, SshEndpoint]: ...

    @abstractmethod
    def known_hosts(self, endpoints: dict[str, SshEndpoint]) -> str: ...

    @abstractmethod
    def destroy(self) -> None: ...

    @abstractmethod
    def destroy_one(self, name: str) -> None:
        """Remove one machine (node replace and remove); an existing host is never
        destroyed: it is reset instead."""
