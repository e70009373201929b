"""The kubeadm configuration the control-plane phase hands to `kubeadm init`,
and the facts about the CRI that every playbook needs (variables.py)."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.machines.providers import provider_class
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
    containers = provider_class(provider).containers
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
            wait_scale=wait_scale(config, provider),
            patches=KUBEADM_PATCHES,
        )
    )


# The directory of kubeadm's patches on the control plane (kube_control_plane writes
# them there; the InitConfiguration names it) when its probes must be more patient.
KUBEADM_PATCHES = "/etc/kubernetes/provision-patches"


def wait_scale(config: ClusterConfig, provider: str | None = None) -> int:
    """How many times longer the roles' waits are on this lab's machines (its
    provider's wait_scale: VMs under software emulation start pods several times
    slower)."""
    from provision.machines.provider import resolve_provider

    return provider_class(provider or resolve_provider(config)).wait_scale()
