"""network: Calico from the bundle's manifest, fitted to the lab's pod range and
encapsulation (playbooks/network.yml)."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.errors import UsageError
from provision.phases.base import Context, Phase
from provision.sources import resolve_sources


class Network(Phase):
    name = "network"
    summary = "Calico"
    playbook = "network.yml"

    def changes(self, config: ClusterConfig, provider: str) -> str:
        return (
            f"Calico {config.versions.calico}, {config.network.encapsulation}, "
            f"pool {config.network.pod_cidr}"
        )

    def run(self, up: Context) -> None:
        from provision.playbooks.calico import fitted_manifest
        from provision.playbooks.kubeadm import wait_scale

        sources = resolve_sources(up.config)
        if sources.artifacts != "bundle":
            raise UsageError(
                "the network phase deploys Calico from the offline bundle in this "
                "version\n  fix: run `provision bundle build` (artifacts.source: "
                "auto or bundle)"
            )
        manifest = fitted_manifest(
            up.config,
            sources.bundle_dir,
            up.inv.state_dir / "calico.yaml",
            wait_scale(up.config, up.machines.provider),
        )
        up.playbook(self.playbook, {"calico_manifest_file": str(manifest)})
