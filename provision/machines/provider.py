"""Which Vagrant provider a config means on this host, and why.

`provider: auto` picks VirtualBox or libvirt only where a VM runs at hardware
speed: VirtualBox when VBoxManage answers and its kernel driver is loaded;
libvirt when libvirtd answers, the vagrant-libvirt plugin is installed and KVM
works (machines/kvm.py). Anything less means emulated or broken VMs, so auto
falls back to Vagrant's docker provider and says why.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from provision.config.model import ClusterConfig
from provision.machines.kvm import KvmProbe, host_probe


@dataclass(frozen=True)
class ProviderChoice:
    provider: str
    reason: str


@dataclass(frozen=True)
class HostFacts:
    """What the choice depends on; each is None/False when absent."""

    vboxmanage_version: str | None  # `VBoxManage --version`, when it answers
    vboxdrv: bool  # VirtualBox's kernel driver (/dev/vboxdrv)
    virsh: bool  # libvirt's client is installed
    libvirt_version: str | None  # `virsh -c qemu:///system version`, when it answers
    libvirt_plugin: bool  # vagrant-libvirt in `vagrant plugin list`
    kvm: KvmProbe


def _run(cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def vboxmanage_version() -> str | None:
    out = _run(["VBoxManage", "--version"])
    if out is None or out.returncode != 0 or not out.stdout.strip():
        return None
    return out.stdout.strip().splitlines()[-1]


def libvirt_version() -> str | None:
    out = _run(["virsh", "-c", "qemu:///system", "version"], timeout=15)
    if out is None or out.returncode != 0:
        return None
    hyper = [ln for ln in out.stdout.splitlines() if "hypervisor" in ln.lower()]
    return (hyper or out.stdout.strip().splitlines() or ["answers"])[-1].strip()


def libvirt_plugin() -> bool:
    out = _run(["vagrant", "plugin", "list"], timeout=60)
    return out is not None and "vagrant-libvirt" in out.stdout


@functools.cache
def host_facts() -> HostFacts:
    """This host's facts, once per process (the plugin list takes seconds)."""
    vbox = vboxmanage_version()
    lv = libvirt_version()
    return HostFacts(
        vboxmanage_version=vbox,
        vboxdrv=os.path.exists("/dev/vboxdrv"),
        virsh=shutil.which("virsh") is not None,
        libvirt_version=lv,
        # the plugin list takes seconds: asked only where libvirt answers
        libvirt_plugin=lv is not None and libvirt_plugin(),
        kvm=host_probe(),
    )


def choose_auto(facts: HostFacts) -> ProviderChoice:
    """The provider `auto` means given these host facts (pure: tests pass fakes)."""
    if facts.vboxmanage_version and facts.vboxdrv:
        return ProviderChoice(
            "virtualbox", f"VBoxManage {facts.vboxmanage_version} answers, /dev/vboxdrv present"
        )
    notes = []
    if facts.vboxmanage_version:
        notes.append("VBoxManage answers but its kernel driver is not loaded (/dev/vboxdrv)")
    if not facts.virsh:
        notes.append("no libvirt (virsh)")
    elif facts.libvirt_version is None:
        notes.append("libvirt does not answer (virsh -c qemu:///system version)")
    elif not facts.libvirt_plugin:
        notes.append("libvirt answers but the vagrant-libvirt plugin is missing")
    elif not facts.kvm.usable:
        notes.append(
            f"libvirt answers and vagrant-libvirt is installed, but KVM is not usable "
            f"({facts.kvm.reason}): VMs would run under software emulation"
        )
    else:
        return ProviderChoice(
            "libvirt", f"libvirt answers ({facts.libvirt_version}), plugin present, KVM works"
        )
    if not facts.vboxmanage_version and not facts.virsh:
        notes = ["no VirtualBox and no libvirt on this host"]
    return ProviderChoice("docker", "; ".join(notes) + ": container nodes instead")


def choose_provider(
    config: ClusterConfig, facts: Callable[[], HostFacts] = host_facts
) -> ProviderChoice:
    """The provider in use, with the reason: 'ssh' for existing hosts, else Vagrant's."""
    if config.machines.kind == "ssh":
        return ProviderChoice("ssh", "machines.kind is ssh: existing hosts")
    if config.machines.provider != "auto":
        return ProviderChoice(config.machines.provider, "set in the config (machines.provider)")
    return choose_auto(facts())


def resolve_provider(config: ClusterConfig, facts: Callable[[], HostFacts] = host_facts) -> str:
    """The provider in use: 'ssh' for existing hosts, else the Vagrant provider."""
    return choose_provider(config, facts).provider
