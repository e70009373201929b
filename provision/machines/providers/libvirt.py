"""VMs under libvirt (vagrant-libvirt): KVM where it works, else QEMU's software
emulation (machines/kvm.py probes which). Domains, volumes and the node network
are named `<cluster>-...`, so two labs never collide. The offline box
(machines.box: provision/bookworm) is a libvirt box, baked with the bundle."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path
from typing import ClassVar

from provision.config.model import ClusterConfig
from provision.errors import Problem
from provision.files import private_dir
from provision.machines.base import Check
from provision.machines.kvm import host_probe
from provision.machines.providers.vm import VmMachines

# vagrant-libvirt's management network (eth0 of every VM): the node subnet must
# not overlap it.
LIBVIRT_MANAGEMENT = IPv4Network("192.168.121.0/24")
# Seconds Vagrant waits for a VM to boot, and lets it halt cleanly, per driver:
# under software emulation (qemu) a first boot on a busy 2-core host takes minutes.
BOOT_TIMEOUT_S = {"kvm": 300, "qemu": 900}
HALT_TIMEOUT_S = {"kvm": 120, "qemu": 600}
# VMs under QEMU's software emulation (no KVM) start pods several times slower:
# the roles' waits for nodes, pods and the API server are this many times longer.
EMULATED_WAIT_SCALE = 4


class LibvirtMachines(VmMachines):
    provider: ClassVar[str] = "libvirt"

    @classmethod
    def driver(cls) -> str:
        """kvm, or qemu where hardware virtualization does not work."""
        return host_probe().driver

    @classmethod
    def wait_scale(cls) -> int:
        return 1 if cls.driver() == "kvm" else EMULATED_WAIT_SCALE

    @classmethod
    def timeouts(cls, driver: str | None = None) -> tuple[int, int]:
        driver = driver or cls.driver()
        return BOOT_TIMEOUT_S[driver], HALT_TIMEOUT_S[driver]

    @classmethod
    def static_spec(cls, config: ClusterConfig, driver: str | None = None) -> dict:
        from provision.machines.spec import machines_spec

        driver = driver or cls.driver()
        name = config.cluster.name
        spec = machines_spec(config, cls.provider, *cls.timeouts(driver))
        spec["libvirt"] = {
            "driver": driver,
            "default_prefix": f"{name}-",
            "network_name": f"{name}-nodes",
        }
        return spec

    @classmethod
    def host_checks(cls, config: ClusterConfig) -> list[Check]:
        from provision.machines.provider import libvirt_plugin, libvirt_version

        version = libvirt_version()
        probe = host_probe()
        setup = "scripts/host-setup-libvirt"
        return [
            *super().host_checks(config),
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
            cls.box_check(config),
        ]

    @classmethod
    def own_problems(cls, config: ClusterConfig, **probes: Callable) -> list[Problem]:
        problems = []
        subnet = config.network.node_subnet
        if subnet.overlaps(LIBVIRT_MANAGEMENT):
            problems.append(
                Problem(
                    "network.node_subnet",
                    f"{subnet} overlaps vagrant-libvirt's management network {LIBVIRT_MANAGEMENT}",
                    "pick another node subnet, e.g. 192.168.58.0/24",
                )
            )
        return problems

    @property
    def console_dir(self) -> Path:
        """Each VM's serial console is written here (<node>.log, by libvirt, as root)."""
        return self.state_dir / "console"

    def console_log(self, name: str) -> Path:
        return self.console_dir / f"{name}.log"

    def spec_extra(self, teardown: bool = False) -> dict:
        if not teardown:  # libvirt opens <node>.log there when it starts a VM
            private_dir(self.console_dir, "the VMs' console logs")
        return {**super().spec_extra(teardown), "console_dir": str(self.console_dir)}

    def prepare(self) -> None:
        self.check_host()
        probe = host_probe()
        self.log.say(f"machines: libvirt driver {probe.driver}: {probe.reason}")
        self.ensure_box()

    def bake(self):
        from provision.machines import box

        return box.bake_plan(self.config)

    def engine_states(self) -> dict[str, str] | None:
        states = {}
        for n in self.config.nodes:
            domain = f"{self.config.cluster.name}-{n.name}"
            out = subprocess.run(
                ["virsh", "-c", "qemu:///system", "domstate", domain],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            word = out.stdout.strip().replace(" ", "")  # "shut off" is Vagrant's shutoff
            states[n.name] = word if out.returncode == 0 and word else "not_created"
        return states
