"""kubernetes: kubeadm, kubelet, kubectl and the images on every node
(playbooks/kubernetes.yml), from the offline bundle or upstream."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.phases.base import Phase, nodes
from provision.sources import resolve_sources


class Kubernetes(Phase):
    name = "kubernetes"
    summary = "kubeadm, kubelet, kubectl and images"
    playbook = "kubernetes.yml"
    node_local = True

    def changes(self, config: ClusterConfig, provider: str) -> str:
        sources = resolve_sources(config)
        where = (
            f"offline bundle ({sources.bundle_dir})"
            if sources.artifacts == "bundle"
            else "upstream release and registries"
        )
        return (
            f"Kubernetes {config.versions.kubernetes} binaries and images from the {where} "
            f"on {nodes(config)}"
        )
