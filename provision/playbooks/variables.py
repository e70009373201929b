"""The extra vars every playbook gets: derived from the config, never secret."""

from __future__ import annotations

from provision.config import compat
from provision.config.model import ClusterConfig
from provision.playbooks.kubeadm import (
    CONTAINER_PREFLIGHT_IGNORE,
    CRI_SOCKETS,
    KUBEADM_PATCHES,
    wait_scale,
)
from provision.sources import BUNDLE_MANIFEST, BUNDLE_ON_NODE, resolve_sources


def playbook_vars(config: ClusterConfig) -> dict:
    sources = resolve_sources(config)
    k8s_minor = compat.minor(config.versions.kubernetes)
    mirror = config.registry.mirror.rstrip("/")
    extra: dict[str, object] = {}
    if sources.artifacts == "bundle":
        from provision.bundle.manifest import read_manifest, sha256_of

        artifacts = read_manifest(sources.bundle_dir, config.versions.kubernetes)
        binaries = {a.name: a.sha256 for a in artifacts if a.kind == "binary"}
        extra["kube_binaries_sha256"] = binaries
        # where each is in the bundle: bin/ for its main release, releases/<v>/bin/ else
        extra["kube_binaries_path"] = {a.name: a.path for a in artifacts if a.kind == "binary"}
        if "cri-dockerd" in binaries:
            extra["cri_dockerd_sha256"] = binaries["cri-dockerd"]
        extra["kube_images"] = {a.name: a.path for a in artifacts if a.kind == "image"}
        extra["bundle_manifest_sha256"] = sha256_of(sources.bundle_dir / BUNDLE_MANIFEST)
    return {
        **extra,
        "kubernetes_version": config.versions.kubernetes,
        "kubernetes_minor": k8s_minor,
        "docker_version": config.versions.docker,
        "containerd_version": config.versions.containerd,
        "docker_source": sources.docker,
        "artifacts_source": sources.artifacts,
        "bundle_dir": str(sources.bundle_dir),
        "bundle_on_node": BUNDLE_ON_NODE,
        "cri": config.runtime.cri,
        "cri_socket": CRI_SOCKETS[config.runtime.cri],
        "cri_dockerd_version": config.versions.cri_dockerd,
        # kube_join skips these checks on a node that is a container (a fact of the
        # host, whatever made it: Vagrant's docker provider or an existing host)
        "container_preflight_ignore": list(CONTAINER_PREFLIGHT_IGNORE),
        "sandbox_image": f"{mirror or 'registry.k8s.io'}/pause:{compat.PAUSE[k8s_minor]}",
        "wait_scale": wait_scale(config),
        # where kubeadm finds the static pods' patches (written when wait_scale > 1)
        "kubeadm_patches": KUBEADM_PATCHES,
    }
