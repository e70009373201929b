"""Checks of a config against the VM provider it will run on, and this host.

- VirtualBox creates host-only networks only inside 192.168.56.0/21 unless
  /etc/vbox/networks.conf allows other ranges (VirtualBox 6.1.28 and later).
- vagrant-libvirt's management network (eth0 of every VM) is 192.168.121.0/24:
  the node subnet must not overlap it.
- A host interface that already holds an address in the node subnet (other
  than the first address, which the hypervisor gives the host on the lab's own
  network) means the lab's network would collide with one the host uses.
- The offline box (machines.box: provision/bookworm) is a libvirt box.

Each check returns the same Problem objects as the config checks.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable
from ipaddress import IPv4Interface, IPv4Network, ip_network
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.errors import Problem
from provision.machines.box import OFFLINE_BOX

VBOX_DEFAULT_RANGES = (IPv4Network("192.168.56.0/21"),)
VBOX_NETWORKS_CONF = Path("/etc/vbox/networks.conf")
LIBVIRT_MANAGEMENT = IPv4Network("192.168.121.0/24")
VM_PROVIDERS = ("virtualbox", "libvirt")


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


def vm_problems(
    config: ClusterConfig,
    provider: str,
    vbox_ranges: Callable[[], Iterable[IPv4Network]] = vbox_allowed_ranges,
    addresses: Callable[[], list[tuple[str, IPv4Interface]]] = host_addresses,
) -> list[Problem]:
    """Problems of this config on this host for a VM provider (none for others)."""
    if provider not in VM_PROVIDERS:
        return []
    problems: list[Problem] = []
    subnet = config.network.node_subnet
    if provider == "virtualbox":
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
    if provider == "libvirt" and subnet.overlaps(LIBVIRT_MANAGEMENT):
        problems.append(
            Problem(
                "network.node_subnet",
                f"{subnet} overlaps vagrant-libvirt's management network {LIBVIRT_MANAGEMENT}",
                "pick another node subnet, e.g. 192.168.58.0/24",
            )
        )
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
