"""control-plane: kubeadm init on the control plane with the rendered kubeadm
config, then the admin kubeconfig in the state dir (playbooks/control-plane.yml)."""

from __future__ import annotations

import os

from provision.config.model import ClusterConfig
from provision.files import write_state
from provision.phases.base import Context, Phase
from provision.project import cli_for


class ControlPlane(Phase):
    name = "control-plane"
    summary = "kubeadm init, admin kubeconfig"
    playbook = "control-plane.yml"

    def changes(self, config: ClusterConfig, provider: str) -> str:
        return f"kubeadm init on {config.control_plane.name} ({config.control_plane.ip})"

    def run(self, up: Context) -> None:
        from provision.playbooks.kubeadm import kubeadm_config

        state = up.inv.state_dir
        rendered = state / "kubeadm-config.yaml"
        write_state(
            rendered,
            kubeadm_config(up.config, up.machines.provider, str(up.inv.cluster_file)),
        )
        kubeconfig = state / "kubeconfig"
        if kubeconfig.is_symlink():  # provision's own file: Ansible's fetch and chmod follow one
            kubeconfig.unlink()
        up.playbook(
            self.playbook,
            {"kubeadm_config_file": str(rendered), "kubeconfig_dest": str(kubeconfig)},
        )
        os.chmod(kubeconfig, 0o600)
        up.log.say(
            f"control-plane: admin kubeconfig in {kubeconfig} (0600); "
            f"use `provision kubectl{cli_for(up.inv.name)} -- get nodes`"
        )
