"""provider: auto picks a VM provider only where VMs run at hardware speed."""

from __future__ import annotations

import shutil

import pytest

from provision.config.load import load_text
from provision.machines import kvm
from provision.machines.kvm import KvmProbe
from provision.machines.provider import HostFacts, choose_auto, choose_provider

KVM_OK = KvmProbe(True, "a test guest ran under KVM")
KVM_NO = KvmProbe(False, "/dev/kvm exists but the CPU shows no vmx/svm flag (nested?)")


def facts(**kw) -> HostFacts:
    base = {
        "vboxmanage_version": None,
        "vboxdrv": False,
        "virsh": False,
        "libvirt_version": None,
        "libvirt_plugin": False,
        "kvm": KVM_NO,
    }
    return HostFacts(**{**base, **kw})


def test_nothing_installed_is_docker():
    choice = choose_auto(facts())
    assert choice.provider == "docker"
    assert "no VirtualBox and no libvirt" in choice.reason


def test_libvirt_with_working_kvm():
    choice = choose_auto(
        facts(virsh=True, libvirt_version="QEMU 7.2", libvirt_plugin=True, kvm=KVM_OK)
    )
    assert choice.provider == "libvirt"


def test_libvirt_without_kvm_is_docker_and_says_emulation():
    """This host: libvirt installed and answering, /dev/kvm there but not usable."""
    choice = choose_auto(
        facts(virsh=True, libvirt_version="QEMU 7.2", libvirt_plugin=True, kvm=KVM_NO)
    )
    assert choice.provider == "docker"
    assert "software emulation" in choice.reason
    assert "vmx/svm" in choice.reason


def test_libvirt_not_answering_or_no_plugin_is_docker():
    silent = choose_auto(facts(virsh=True, kvm=KVM_OK))
    assert silent.provider == "docker"
    assert "does not answer" in silent.reason
    no_plugin = choose_auto(facts(virsh=True, libvirt_version="QEMU 7.2", kvm=KVM_OK))
    assert no_plugin.provider == "docker"
    assert "plugin is missing" in no_plugin.reason


def test_virtualbox_needs_its_driver():
    assert choose_auto(facts(vboxmanage_version="7.0.20", vboxdrv=True)).provider == "virtualbox"
    choice = choose_auto(facts(vboxmanage_version="7.0.20"))
    assert choice.provider == "docker"
    assert "/dev/vboxdrv" in choice.reason


def test_explicit_provider_and_ssh_are_not_probed(lab):
    import yaml

    def boom():
        raise AssertionError("probed")

    lab["machines"]["provider"] = "libvirt"
    config = load_text(yaml.safe_dump(lab), "cluster.yml")
    assert choose_provider(config, boom).provider == "libvirt"
    lab["machines"]["provider"] = "auto"
    config = load_text(yaml.safe_dump(lab), "cluster.yml")
    got = choose_provider(config, lambda: facts())
    assert got.provider == "docker"


def test_cpu_flags():
    info = "processor\t: 0\nflags\t\t: fpu vme sse2 vmx\n\nprocessor\t: 1\nflags\t\t: fpu\n"
    assert {"vmx", "fpu"} <= kvm.cpu_flags(info)
    assert "svm" not in kvm.cpu_flags(info)


@pytest.mark.parametrize(
    ("cpuinfo", "smoke", "usable", "words"),
    [
        ("flags : fpu sse2", None, False, "vmx/svm"),
        ("flags : fpu vmx", "a test guest under kvm did not finish within 20 s", False, "finish"),
        ("flags : fpu svm", None, True, "ran under KVM"),
    ],
)
def test_kvm_probe(tmp_path, cpuinfo, smoke, usable, words):
    device = tmp_path / "kvm"
    device.write_text("")  # opens read-write like a usable /dev/kvm
    got = kvm.probe(str(device), lambda: cpuinfo, qemu="/bin/true", smoke=lambda q: smoke)
    assert got.usable is usable
    assert words in got.reason
    assert got.driver == ("kvm" if usable else "qemu")


def test_kvm_probe_without_device(tmp_path):
    got = kvm.probe(str(tmp_path / "absent"), lambda: "flags : vmx")
    assert not got.usable
    assert got.driver == "qemu"


def test_boot_sector_is_one_bootable_sector():
    assert len(kvm.BOOT_SECTOR) == 512
    assert kvm.BOOT_SECTOR.endswith(b"\x55\xaa")


def qemu_or_fail() -> str:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        pytest.fail("qemu-system-x86_64 is not installed: run scripts/host-setup-libvirt")
    return qemu


def test_the_probe_guest_really_boots_under_qemu_emulation():
    """The probe's boot sector, run for real by QEMU's software emulation (TCG, which
    works on any host): SeaBIOS loads it and it exits through the debug port."""
    assert kvm.smoke_run(qemu_or_fail(), timeout=60, accel="tcg") is None


def test_a_guest_that_never_exits_is_reported_as_hanging(monkeypatch):
    """The same real QEMU with a boot sector that spins: the timeout says it hangs."""
    spin = bytes([0xEB, 0xFE])  # jmp $
    monkeypatch.setattr(kvm, "BOOT_SECTOR", spin + bytes(508) + b"\x55\xaa")
    why = kvm.smoke_run(qemu_or_fail(), timeout=3, accel="tcg")
    assert why == "a test guest under tcg did not finish within 3 s (it hangs)"
