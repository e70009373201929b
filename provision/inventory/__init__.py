"""Step 3 of the flow: the Ansible inventory, made from the config and the machines."""

from __future__ import annotations

from dataclasses import dataclass

from provision.config.model import ClusterConfig


@dataclass(frozen=True)
class SshEndpoint:
    """How Ansible and fabric reach one node."""

    host: str
    port: int
    user: str
    private_key: str


def static_endpoints(config: ClusterConfig) -> dict[str, SshEndpoint]:
    """Endpoints known from the config alone (existing hosts, or before machines exist)."""
    ssh = config.machines.ssh
    user = ssh.user if ssh else "root"
    port = ssh.port if ssh else 22
    key = ssh.private_key if ssh else ""
    return {n.name: SshEndpoint(n.address or str(n.ip), port, user, key) for n in config.nodes}


def build_hosts(
    config: ClusterConfig, endpoints: dict[str, SshEndpoint], extra_vars: dict | None = None
) -> dict:
    """The Ansible YAML inventory: groups control_plane, workers, k8s_cluster."""

    def host(node) -> dict:
        ep = endpoints[node.name]
        entry = {
            "ansible_host": ep.host,
            "ansible_port": ep.port,
            "ansible_user": ep.user,
            "node_ip": str(node.ip),
            "node_role": node.role,
        }
        if ep.private_key:
            entry["ansible_ssh_private_key_file"] = ep.private_key
        return entry

    cp = config.control_plane
    return {
        "all": {
            "vars": {"cluster_name": config.cluster.name, **(extra_vars or {})},
            "children": {
                "k8s_cluster": {
                    "children": {
                        "control_plane": {"hosts": {cp.name: host(cp)}},
                        "workers": {"hosts": {n.name: host(n) for n in config.workers}},
                    }
                }
            },
        }
    }
