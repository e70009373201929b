"""Does hardware virtualization work on this host? A probe that runs guest code.

A /dev/kvm that opens is not enough: a nested hypervisor can offer one that
hangs every guest. The probe asks three things in order and stops at the first
no: the device opens read-write, the CPU has the vmx or svm flag, and QEMU with
`-accel kvm` runs a 512-byte boot sector that writes to QEMU's debug-exit port
within a timeout (SeaBIOS runs first, so this is real guest code under KVM).
The boot sector is a weak test on its own: on a host whose nested /dev/kvm
hangs a Linux guest, it can still pass; there the CPU flags are what say no.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SMOKE_TIMEOUT_S = 20
# mov al, 1; out 0xf4, al; hlt. QEMU's isa-debug-exit then exits with (1 << 1) | 1.
_BOOT_CODE = bytes([0xB0, 0x01, 0xE6, 0xF4, 0xF4])
BOOT_SECTOR = _BOOT_CODE + bytes(510 - len(_BOOT_CODE)) + b"\x55\xaa"
SMOKE_EXIT = 3


@dataclass(frozen=True)
class KvmProbe:
    usable: bool
    reason: str

    @property
    def driver(self) -> str:
        """vagrant-libvirt's driver: kvm, or qemu (software emulation, TCG)."""
        return "kvm" if self.usable else "qemu"


def cpu_flags(cpuinfo: str) -> set[str]:
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return flags


def _device_opens(path: str) -> str | None:
    """None when the device opens read-write, else why not."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"{path} does not open read-write ({e.strerror})"
    os.close(fd)
    return None


def smoke_run(qemu: str, timeout: float = SMOKE_TIMEOUT_S, accel: str = "kvm") -> str | None:
    """None when a tiny guest runs to its exit under `accel`, else why not."""
    with tempfile.TemporaryDirectory(prefix="provision-kvm-") as tmp:
        disk = Path(tmp) / "boot.img"
        disk.write_bytes(BOOT_SECTOR)
        cmd = [
            qemu,
            "-accel",
            accel,
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-m",
            "16",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive",
            f"file={disk},format=raw,if=floppy",
        ]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return f"a test guest under {accel} did not finish within {timeout:.0f} s (it hangs)"
        if out.returncode != SMOKE_EXIT:
            err = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
            return f"a test guest under {accel} failed: {err}"
    return None


def probe(
    device: str = "/dev/kvm",
    cpuinfo: Callable[[], str] = lambda: Path("/proc/cpuinfo").read_text(),
    qemu: str | None = None,
    smoke: Callable[[str], str | None] = smoke_run,
) -> KvmProbe:
    if not os.path.exists(device):
        return KvmProbe(False, f"no {device}")
    why = _device_opens(device)
    if why:
        return KvmProbe(False, why)
    if not cpu_flags(cpuinfo()) & {"vmx", "svm"}:
        return KvmProbe(False, f"{device} exists but the CPU shows no vmx/svm flag (nested?)")
    qemu = qemu or shutil.which("qemu-system-x86_64")
    if qemu is None:
        return KvmProbe(False, "qemu-system-x86_64 is not installed, so KVM was not tried")
    why = smoke(qemu)
    if why:
        return KvmProbe(False, why)
    return KvmProbe(True, f"{device} opens, vmx/svm present, a test guest ran under KVM")


@functools.cache
def host_probe() -> KvmProbe:
    """The probe of this host, once per process (the smoke run takes a second)."""
    return probe()
