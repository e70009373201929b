"""What the Vagrantfile reads (machines.json): the one list of nodes, and how to
make them with the chosen provider."""

from __future__ import annotations

from provision.config.model import ClusterConfig


def machines_spec(
    config: ClusterConfig, provider: str, boot_timeout: int, halt_timeout: int
) -> dict:
    """What the Vagrantfile reads: the one list of nodes, and how to make them (a
    provider adds its own part: providers/<name>.py, spec_extra)."""
    subnet = config.network.node_subnet
    name = config.cluster.name
    return {
        "cluster": name,
        "provider": provider,
        "box": config.machines.box,
        "node_subnet": str(subnet),
        "netmask": str(subnet.netmask),
        "prefixlen": subnet.prefixlen,
        "boot_timeout": config.machines.boot_timeout_s or boot_timeout,
        "halt_timeout": halt_timeout,
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
    }
