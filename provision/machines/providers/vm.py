"""What the VM providers (libvirt, virtualbox) share: memory reserved per VM, the
box (Vagrant Cloud's, or the offline box built here: machines/box.py), each VM's
own `vagrant up`, and a node subnet that no interface of this host already uses
(other than the first address, which the hypervisor gives the host on the lab's
own network)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from ipaddress import IPv4Interface

from provision.config.model import ClusterConfig
from provision.errors import ConfigError, Problem, ProvisionError
from provision.machines import box
from provision.machines.base import Check
from provision.machines.vagrant import VagrantMachines


def host_addresses() -> list[tuple[str, IPv4Interface]]:
    """(interface, address/prefix) of every IPv4 address on this host."""
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=False
        )
        links = json.loads(out.stdout or "[]")
    except (OSError, ValueError):
        return []
    return [
        (link["ifname"], IPv4Interface(f"{a['local']}/{a['prefixlen']}"))
        for link in links
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    ]


class VmMachines(VagrantMachines):
    @classmethod
    def own_problems(cls, config: ClusterConfig, **probes: Callable) -> list[Problem]:
        """The provider's own problems with the config on this host."""
        return []

    @classmethod
    def host_problems(
        cls,
        config: ClusterConfig,
        addresses: Callable[[], list[tuple[str, IPv4Interface]]] = host_addresses,
        **probes: Callable,
    ) -> list[Problem]:
        """The provider's own problems, then a node subnet this host already uses
        (probes: stand-ins for what the provider asks of this host, in tests)."""
        problems = cls.own_problems(config, **probes)
        subnet = config.network.node_subnet
        hosts_own = subnet.network_address + 1
        for ifname, iface in addresses():
            if iface.ip in subnet and iface.ip != hosts_own:
                problems.append(
                    Problem(
                        "network.node_subnet",
                        f"{subnet} collides with host interface {ifname} ({iface})",
                        "pick a node subnet that no interface of this host uses",
                    )
                )
        return problems

    @classmethod
    def needed_memory_mb(cls, config: ClusterConfig) -> int:
        """VMs reserve their memory."""
        return sum(n.memory_mb for n in config.nodes)

    @classmethod
    def needed_disk_gb(cls, config: ClusterConfig) -> int:
        return 8 * len(config.nodes)

    @classmethod
    def box_check(cls, config: ClusterConfig) -> Check:
        if config.machines.box == box.OFFLINE_BOX:
            try:
                name = box.box_name(box.bake_plan(config))
            except ProvisionError as e:
                return Check("box", False, str(e))
            present = box.box_present(name)
            return Check(
                "box",
                True,
                f"{name} present"
                if present
                else f"{name} is built by the first `provision up` (~3 min, debootstrap)",
            )
        present = box.box_present(config.machines.box)
        return Check(
            "box",
            True,
            f"{config.machines.box} present"
            if present
            else f"{config.machines.box} is downloaded by the first `vagrant up` (needs internet)",
            warning=not present,
        )

    def bake(self):
        """The bundle's part of the offline box, or None (no bake)."""
        return None

    def _box_bake(self):
        """bake(), worked out once per command so the box built and the box named in
        machines.json are the same even when a bundle appears meanwhile."""
        if not hasattr(self, "_bake"):
            self._bake = self.bake()
        return self._bake

    def prepare(self) -> None:
        """Check the config against this host, build the offline box when asked for."""
        self.check_host()
        self.ensure_box()

    def check_host(self) -> None:
        problems = self.host_problems(self.config)
        if problems:
            raise ConfigError(str(self.inv.cluster_file), problems)

    def ensure_box(self) -> None:
        if self.config.machines.box == box.OFFLINE_BOX:
            box.ensure_box(self.inv.cache_dir, say=self.log.say, bake=self._box_bake())

    def spec_extra(self, teardown: bool = False) -> dict:
        if self.config.machines.box != box.OFFLINE_BOX:
            return {}
        # a halt or destroy needs no box: a bundle's state never stops it
        return {"box": box.box_name(None if teardown else self._box_bake())}
