"""What the Vagrantfile reads (machines.json): the one list of nodes, and how to
make them with the chosen provider."""

from __future__ import annotations

from provision.config.model import ClusterConfig

# Seconds Vagrant waits for a machine to boot to SSH: Vagrant's own default, and
# a longer one under software emulation (libvirt driver qemu), where a first boot
# on a busy 2-core host takes minutes.
BOOT_TIMEOUT_S = {"kvm": 300, "qemu": 900}
# Seconds `vagrant halt` lets a machine shut down cleanly before it is forced off:
# a node's systemd stops the kubelet, the runtime and the add-ons' databases first.
# (Vagrant's own: 60 s for a VM, and 1 s for a docker container, which kills the
# databases mid-write.)
HALT_TIMEOUT_S = {"kvm": 120, "qemu": 600, "docker": 90}


def machines_spec(
    config: ClusterConfig,
    provider: str,
    extra: dict | None = None,
    libvirt_driver: str = "kvm",
) -> dict:
    """What the Vagrantfile reads: the one list of nodes, and how to make them.

    libvirt_driver is the host's (machines/kvm.py probes it): kvm, or qemu where
    hardware virtualization does not work.
    """
    subnet = config.network.node_subnet
    name = config.cluster.name
    return {
        "cluster": name,
        "provider": provider,
        "box": config.machines.box,
        "node_subnet": str(subnet),
        "netmask": str(subnet.netmask),
        "prefixlen": subnet.prefixlen,
        "boot_timeout": BOOT_TIMEOUT_S[libvirt_driver] if provider == "libvirt" else 300,
        "halt_timeout": HALT_TIMEOUT_S["docker" if provider == "docker" else libvirt_driver],
        "libvirt": {
            "driver": libvirt_driver,
            "default_prefix": f"{name}-",
            "network_name": f"{name}-nodes",
        },
        "nodes": [
            {
                "name": n.name,
                "role": n.role,
                "cpus": n.cpus,
                "memory_mb": n.memory_mb,
                "ip": str(n.ip),
            }
            for n in config.nodes
        ],
        **(extra or {}),
    }
