"""VMs under VirtualBox. VirtualBox creates host-only networks only inside
192.168.56.0/21 unless /etc/vbox/networks.conf allows other ranges (VirtualBox
6.1.28 and later); the offline box is a libvirt box, so a VirtualBox lab takes
a box of Vagrant Cloud's (debian/bookworm64, which needs internet)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from ipaddress import IPv4Network, ip_network
from pathlib import Path
from typing import ClassVar

from provision.config.model import ClusterConfig
from provision.errors import Problem
from provision.machines.base import Check
from provision.machines.box import OFFLINE_BOX
from provision.machines.providers.vm import VmMachines

VBOX_DEFAULT_RANGES = (IPv4Network("192.168.56.0/21"),)
VBOX_NETWORKS_CONF = Path("/etc/vbox/networks.conf")


def vbox_allowed_ranges(conf: Path = VBOX_NETWORKS_CONF) -> tuple[IPv4Network, ...]:
    """The ranges VirtualBox allows for host-only networks (lines `* RANGE ...`)."""
    try:
        text = conf.read_text()
    except OSError:
        return VBOX_DEFAULT_RANGES
    ranges: list[IPv4Network] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "*":
            continue
        for word in words[1:]:
            try:
                net = ip_network(word, strict=False)
            except ValueError:
                continue
            if isinstance(net, IPv4Network):
                ranges.append(net)
    return tuple(ranges)


class VirtualBoxMachines(VmMachines):
    provider: ClassVar[str] = "virtualbox"

    @classmethod
    def host_checks(cls, config: ClusterConfig) -> list[Check]:
        from provision.machines.provider import vboxmanage_version

        version = vboxmanage_version()
        driver = os.path.exists("/dev/vboxdrv")
        return [
            *super().host_checks(config),
            Check(
                "VBoxManage",
                version is not None,
                f"answers: {version}" if version else "not found or not answering",
                "install VirtualBox from virtualbox.org",
            ),
            Check(
                "VirtualBox driver",
                driver,
                "/dev/vboxdrv present" if driver else "/dev/vboxdrv missing",
                "load VirtualBox's kernel module (modprobe vboxdrv, or reinstall VirtualBox)",
            ),
            cls.box_check(config),
        ]

    @classmethod
    def own_problems(
        cls,
        config: ClusterConfig,
        vbox_ranges: Callable[[], Iterable[IPv4Network]] = vbox_allowed_ranges,
        **probes: Callable,
    ) -> list[Problem]:
        problems = []
        subnet = config.network.node_subnet
        allowed = tuple(vbox_ranges())
        if not any(subnet.subnet_of(r) for r in allowed):
            problems.append(
                Problem(
                    "network.node_subnet",
                    f"{subnet} is outside the ranges VirtualBox allows for host-only networks "
                    f"({', '.join(map(str, allowed)) or 'none'})",
                    "pick a node subnet inside 192.168.56.0/21, or allow the range in "
                    f"{VBOX_NETWORKS_CONF} (a line `* {subnet}`)",
                )
            )
        if config.machines.box == OFFLINE_BOX:
            problems.append(
                Problem(
                    "machines.box",
                    f"{OFFLINE_BOX} is built for libvirt only",
                    "use a VirtualBox box (e.g. debian/bookworm64), or provider: libvirt",
                )
            )
        return problems
