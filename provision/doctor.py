"""Host checks: is this machine ready for the provider a config asks for?

Every failed check says what is wrong and the command that fixes it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from provision.config import compat
from provision.config.model import ClusterConfig
from provision.project import Inventory


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    # ok but worth knowing (e.g. VMs under software emulation): not a failure
    warning: bool = False


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def mem_available_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def needed_memory_mb(config: ClusterConfig, provider: str) -> int:
    """VMs reserve their memory; container nodes use what their work needs."""
    if provider in ("virtualbox", "libvirt"):
        return sum(n.memory_mb for n in config.nodes)
    reserved = sum(compat.NODE_RESERVED_MB[n.role] for n in config.nodes)
    return reserved + sum(compat.addon_memory_mb(config.addons, len(config.workers)).values())


def run_checks(config: ClusterConfig, provider: str, cache_dir: Path) -> list[Check]:
    checks: list[Check] = []
    if provider == "ssh":
        checks.append(_tool("ssh-keygen", "apt-get install openssh-client"))
        return checks
    checks.append(_tool("vagrant", "scripts/host-setup (or apt-get install vagrant)"))
    if provider == "docker":
        checks.extend(_docker_checks())
    elif provider == "virtualbox":
        checks.extend(_virtualbox_checks(config))
    elif provider == "libvirt":
        checks.extend(_libvirt_checks(config))
    need = needed_memory_mb(config, provider)
    have = mem_available_mb()
    checks.append(
        Check(
            "free memory",
            have >= need,
            f"{have} MiB available, {need} MiB needed",
            "close other programs, or lower nodes[].memory_mb / disable add-ons",
        )
    )
    need_gb = 10 if provider == "docker" else 8 * len(config.nodes)
    target = cache_dir if cache_dir.exists() else Path.home()
    free_gb = shutil.disk_usage(target).free // 2**30
    checks.append(
        Check(
            f"free disk ({target})",
            free_gb >= need_gb,
            f"{free_gb} GiB free, {need_gb} GiB needed",
            "free disk space",
        )
    )
    instances = _read_int("/proc/sys/fs/inotify/max_user_instances")
    watches = _read_int("/proc/sys/fs/inotify/max_user_watches")
    checks.append(
        Check(
            "inotify instances",
            instances is None or instances >= 512,
            f"fs.inotify.max_user_instances = {instances}",
            "sysctl -w fs.inotify.max_user_instances=512",
        )
    )
    checks.append(
        Check(
            "inotify watches",
            watches is None or watches >= 524288,
            f"fs.inotify.max_user_watches = {watches}",
            "sysctl -w fs.inotify.max_user_watches=524288",
        )
    )
    return checks


def _tool(name: str, fix: str) -> Check:
    path = shutil.which(name)
    return Check(name, path is not None, path or "not found", fix)


def _docker_checks() -> list[Check]:
    from provision.machines.docker import engine_running

    checks = [
        _tool("docker", "scripts/host-setup (or apt-get install docker.io)"),
        _tool("debootstrap", "scripts/host-setup (or apt-get install debootstrap)"),
        _tool("ssh-keygen", "apt-get install openssh-client"),
    ]
    running = checks[0].ok and engine_running()
    checks.append(
        Check(
            "Docker engine",
            running,
            "running" if running else "not answering",
            "scripts/host-setup (starts dockerd)",
        )
    )
    checks.append(
        Check(
            "root",
            os.geteuid() == 0,
            f"uid {os.geteuid()}",
            "run as root: debootstrap and docker import need it",
        )
    )
    return checks


def _virtualbox_checks(config: ClusterConfig) -> list[Check]:
    from provision.machines.provider import vboxmanage_version

    version = vboxmanage_version()
    return [
        Check(
            "VBoxManage",
            version is not None,
            f"answers: {version}" if version else "not found or not answering",
            "install VirtualBox from virtualbox.org",
        ),
        Check(
            "VirtualBox driver",
            os.path.exists("/dev/vboxdrv"),
            "/dev/vboxdrv present" if os.path.exists("/dev/vboxdrv") else "/dev/vboxdrv missing",
            "load VirtualBox's kernel module (modprobe vboxdrv, or reinstall VirtualBox)",
        ),
        _box_check(config, "virtualbox"),
    ]


def _libvirt_checks(config: ClusterConfig) -> list[Check]:
    from provision.machines.kvm import host_probe
    from provision.machines.provider import libvirt_plugin, libvirt_version

    version = libvirt_version()
    probe = host_probe()
    setup = "scripts/host-setup-libvirt"
    return [
        Check(
            "libvirtd",
            version is not None,
            f"virsh -c qemu:///system version: {version}" if version else "does not answer",
            setup,
        ),
        Check(
            "vagrant-libvirt plugin",
            libvirt_plugin(),
            "in `vagrant plugin list`",
            f"{setup} (or apt-get install vagrant-libvirt)",
        ),
        Check(
            "KVM",
            True,
            probe.reason
            if probe.usable
            else f"not usable ({probe.reason}): VMs run under QEMU's software emulation "
            "(libvirt driver qemu), several times slower",
            warning=not probe.usable,
        ),
        _box_check(config, "libvirt"),
    ]


def _box_check(config: ClusterConfig, provider: str) -> Check:
    from provision.machines import box

    if config.machines.box == box.OFFLINE_BOX:
        from provision.errors import ProvisionError

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


def lab_checks(inv: Inventory, config: ClusterConfig) -> list[Check]:
    """What doctor says about the lab itself, once it runs: the earliest certificate
    expiry (a warning under certs.WARN_DAYS, with the command that renews them)."""
    from provision.certs import WARN_DAYS, describe, expiries
    from provision.errors import ProvisionError
    from provision.machines.factory import machines_for
    from provision.runlog import NoRunLog

    if not inv.hosts_file.exists() or not (inv.state_dir / "kubeconfig").exists():
        return []  # no cluster yet
    try:
        running = [
            m.name
            for m in machines_for(inv, config, NoRunLog(None)).status()
            if m.state == "running"
        ]
        if config.control_plane.name not in running:
            return []
        found = expiries(inv, config, running)
    except ProvisionError as e:
        return [
            Check(
                "certificates",
                True,
                f"not read: {str(e).splitlines()[0]}",
                "run `provision certs check` once the lab answers",
                warning=True,
            )
        ]
    soon = bool(found) and found[0].days_left < WARN_DAYS
    return [
        Check(
            "certificates",
            True,
            describe(found).removeprefix("certificates: "),
            "provision certs renew",
            warning=soon,
        )
    ]
