"""Host checks: is this machine ready for the provider a config asks for?

Every failed check says what is wrong and the command that fixes it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.machines.base import Check
from provision.machines.providers import provider_class
from provision.project import Inventory


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


def run_checks(config: ClusterConfig, provider: str, cache_dir: Path) -> list[Check]:
    """The provider's own checks (its module's host_checks), then, for machines
    provision makes on this host, its memory, disk and inotify limits."""
    kind = provider_class(provider)
    checks = kind.host_checks(config)
    if kind.existing:
        return checks
    need = kind.needed_memory_mb(config)
    have = mem_available_mb()
    checks.append(
        Check(
            "free memory",
            have >= need,
            f"{have} MiB available, {need} MiB needed",
            "close other programs, or lower nodes[].memory_mb / disable add-ons",
        )
    )
    need_gb = kind.needed_disk_gb(config)
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
