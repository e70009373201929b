"""Which Vagrant provider a config means on this host."""

from __future__ import annotations

import shutil
import subprocess

from provision.config.model import ClusterConfig

CONTAINER_PROVIDERS = {"docker"}


def detect_hypervisor() -> str | None:
    """virtualbox or libvirt when the host can run VMs with them, else None."""
    if shutil.which("VBoxManage"):
        return "virtualbox"
    if shutil.which("virsh") and shutil.which("vagrant"):
        plugins = subprocess.run(
            ["vagrant", "plugin", "list"], capture_output=True, text=True, timeout=60, check=False
        )
        if "vagrant-libvirt" in plugins.stdout:
            return "libvirt"
    return None


def resolve_provider(config: ClusterConfig, detect=detect_hypervisor) -> str:
    """The provider in use: 'ssh' for existing hosts, else the Vagrant provider."""
    if config.machines.kind == "ssh":
        return "ssh"
    if config.machines.provider != "auto":
        return config.machines.provider
    return detect() or "docker"


def nodes_are_containers(provider: str) -> bool:
    return provider in CONTAINER_PROVIDERS
