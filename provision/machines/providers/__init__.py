"""The providers of machines, one module each, all behind machines.base.Machines:

    docker      container nodes (Vagrant's docker provider, systemd in each)
    libvirt     VMs under libvirt (KVM, or QEMU's emulation where KVM does not work)
    virtualbox  VMs under VirtualBox
    existing    hosts that already run, reached over SSH (machines.kind: ssh)

Adding a provider: a module here with its Machines subclass, and a line in PROVIDERS.
"""

from __future__ import annotations

import importlib

from provision.machines.base import Machines

# name (as machines.json records it) -> (module in this package, class)
PROVIDERS: dict[str, tuple[str, str]] = {
    "docker": ("docker", "DockerMachines"),
    "libvirt": ("libvirt", "LibvirtMachines"),
    "virtualbox": ("virtualbox", "VirtualBoxMachines"),
    "ssh": ("existing", "SshHosts"),
}


def provider_class(name: str) -> type[Machines]:
    """The Machines class of a provider name (imported on first use: each pulls in
    its own tools)."""
    module, cls = PROVIDERS[name]
    found = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    assert issubclass(found, Machines) and found.provider == name
    return found
