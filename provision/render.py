"""Render every file derived from the cluster config: one direction, config -> files.

`provision render --out DIR` writes them for inspection; later phases write the
same files into the lab's state directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from provision.addons.manifests import render_manifests
from provision.config.model import ClusterConfig
from provision.inventory import SshEndpoint, build_hosts, static_endpoints
from provision.machines.provider import nodes_are_containers
from provision.templates import Token, environment

# The kubelet's one CRI socket, by runtime.cri.
CRI_SOCKETS = {
    "containerd": "unix:///run/containerd/containerd.sock",
    "docker": "unix:///var/run/cri-dockerd.sock",
}
# kubeadm preflight checks that cannot pass inside a container node.
CONTAINER_PREFLIGHT_IGNORE = (
    "SystemVerification",
    "Swap",
    "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
)


def _env():
    """Templates in provision/templates; config strings reach them only through the
    `yaml` filter (see provision/templates)."""
    return environment("templates")


def kubeadm_config(config: ClusterConfig, provider: str, source: str = "cluster.yml") -> str:
    containers = nodes_are_containers(provider)
    mirror = config.registry.mirror.rstrip("/")
    return (
        _env()
        .get_template("kubeadm-config.yaml.j2")
        .render(
            source=source,
            cluster_name=config.cluster.name,
            cp=config.control_plane,
            cri_socket=Token(CRI_SOCKETS[config.runtime.cri]),
            containers=containers,
            preflight_ignore=[Token(c) for c in CONTAINER_PREFLIGHT_IGNORE] if containers else (),
            kubernetes_version=config.versions.kubernetes,
            image_repository=mirror,
            pod_cidr=config.network.pod_cidr,
            service_cidr=config.network.service_cidr,
        )
    )


# Seconds Vagrant waits for a machine to boot to SSH: Vagrant's own default, and
# a longer one under software emulation (libvirt driver qemu), where a first boot
# on a busy 2-core host takes minutes.
BOOT_TIMEOUT_S = {"kvm": 300, "qemu": 900}


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


def render_all(
    config: ClusterConfig,
    provider: str,
    out: Path,
    source: str,
    endpoints: dict[str, SshEndpoint] | None = None,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    hosts = build_hosts(config, endpoints or static_endpoints(config))
    files = {
        "hosts.yml": yaml.safe_dump(hosts, sort_keys=False),
        "kubeadm-config.yaml": kubeadm_config(config, provider, source),
        "machines.json": json.dumps(machines_spec(config, provider), indent=2) + "\n",
        **{f"addons/{n}": text for n, text in render_manifests(config, source).items()},
    }
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
