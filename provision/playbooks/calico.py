"""Calico's manifest, made to fit the cluster config before the network phase applies it.

The manifest itself is Calico's own release manifest, carried by the offline bundle
(`manifests/calico.yaml`), never stored in git. This module sets what the config
decides: the IP pool (the pod CIDR), the encapsulation, node address
autodetection on the private network, and the registry override.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from provision.config.model import ClusterConfig
from provision.errors import BundleError

# The pool's (ipipMode, vxlanMode) by network.encapsulation.
POOL_MODES = {"vxlan": ("Never", "Always")}


class CalicoManifestError(BundleError):
    """The bundle's Calico manifest lacks what the network phase rewrites."""


def set_env(container: dict, name: str, value: str) -> None:
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            item.pop("valueFrom", None)
            item["value"] = value
            return
    env.append({"name": name, "value": value})


def rewrite_image(image: str, mirror: str) -> str:
    if not mirror:
        return image
    first, _, rest = image.partition("/")
    path = rest if ("." in first or ":" in first) and rest else image
    return f"{mirror.rstrip('/')}/{path}"


def fit(manifest_text: str, config: ClusterConfig, source: str = "calico.yaml") -> str:
    """Calico's manifest with the config's pool, encapsulation, autodetection, images."""
    net = config.network
    ipip, vxlan = POOL_MODES[net.encapsulation]
    docs = [d for d in yaml.safe_load_all(manifest_text) if d]
    node = next(
        (
            d
            for d in docs
            if d.get("kind") == "DaemonSet" and d["metadata"]["name"] == "calico-node"
        ),
        None,
    )
    if node is None:
        raise CalicoManifestError(
            f"{source}: no calico-node DaemonSet\n"
            "  fix: rebuild the bundle (`provision bundle build`)"
        )
    spec = node["spec"]["template"]["spec"]
    main = next(c for c in spec["containers"] if c["name"] == "calico-node")
    set_env(main, "CALICO_IPV4POOL_CIDR", str(net.pod_cidr))
    set_env(main, "CALICO_IPV4POOL_IPIP", ipip)
    set_env(main, "CALICO_IPV4POOL_VXLAN", vxlan)
    set_env(main, "IP_AUTODETECTION_METHOD", f"cidr={net.node_subnet}")
    mirror = config.registry.mirror
    for doc in docs:
        pod = (doc.get("spec") or {}).get("template", {}).get("spec")
        for c in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            c["image"] = rewrite_image(c["image"], mirror)
    header = (
        f"# Calico from {source}, fitted by provision to {config.cluster.name}: pool "
        f"{net.pod_cidr}, {net.encapsulation}, autodetection cidr={net.node_subnet}\n"
    )
    return header + yaml.safe_dump_all(docs, sort_keys=False)


def images(manifest_text: str) -> set[str]:
    found = set()
    for doc in yaml.safe_load_all(manifest_text):
        pod = ((doc or {}).get("spec") or {}).get("template", {}).get("spec") or {}
        found.update(c["image"] for c in pod.get("containers", []) + pod.get("initContainers", []))
    return found


def fitted_manifest(config: ClusterConfig, bundle: Path, out: Path) -> Path:
    source = bundle / "manifests" / "calico.yaml"
    if not source.is_file():
        raise CalicoManifestError(
            f"no Calico manifest in the bundle ({source})\n  fix: run `provision bundle build`"
        )
    out.write_text(fit(source.read_text(), config, str(source)))
    return out
