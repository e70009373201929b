"""`provision render --out DIR`: every file derived from the cluster config, written
for inspection (each whole, 0600, never through a link); each comes from the module
of its layer (machines/spec.py, inventory, playbooks/kubeadm.py, addons/manifests.py),
as the phases write them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from provision.addons.manifests import render_manifests
from provision.config.model import ClusterConfig
from provision.files import private_dir, write_state
from provision.inventory import build_hosts
from provision.machines.base import SshEndpoint, static_endpoints
from provision.machines.providers import provider_class
from provision.playbooks.kubeadm import kubeadm_config


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
        "machines.json": json.dumps(provider_class(provider).static_spec(config), indent=2) + "\n",
        **{f"addons/{n}": text for n, text in render_manifests(config, source).items()},
    }
    written = []
    for name, text in files.items():
        path = out / name
        if path.parent != out:
            private_dir(path.parent, "the rendered add-ons' directory")
        write_state(path, text)  # whole or not at all; a link there is replaced, not followed
        written.append(path)
    return written
