"""The one table of pinned sha256 for what `provision bundle fetch` downloads.

    KUBERNETES[version][arch][name]   kubeadm, kubelet, kubectl from {release_url}
    CALICO[version]["calico.yaml"]    Calico's manifest from {calico_url}

Every value is copied from a published upstream source named above its entry; none is
computed from a download made here, and none may be guessed: a wrong pin only turns into a
refused download, a missing one into an error that says how to add it. The config's
`artifacts.checksums` adds to or overrides this table for the pinned versions.

To add a Kubernetes release, take the values from the release's own checksum files
(https://dl.k8s.io/release/vX.Y.Z/bin/linux/<arch>/<name>.sha256) and cross-check them with
a second source such as kubespray's roles/kubespray_defaults/vars/main/checksums.yml.
"""

from __future__ import annotations

from collections.abc import Mapping

from provision.errors import BundleError

TABLE = "provision/bundle/checksums.py"

# kubernetes-sigs/kubespray, roles/kubespray_defaults/vars/main/checksums.yml at commit
# 005bdce7f1867958838a2d0bb4f7e67893d98f64 (kubeadm_checksums, kubelet_checksums,
# kubectl_checksums). That file's newest 1.35 release is 1.35.1; 1.35.4 (the lab's pin) is
# in kubespray v2.31.0, which the sources reachable here do not hold, so it is not listed.
KUBERNETES: dict[str, dict[str, dict[str, str]]] = {
    "1.35.1": {
        "amd64": {
            "kubeadm": "8a7ff344eef1bfba88f9a74b3fdc9ea4448c94f1b3cefb8c0aeeaf1f96e05053",
            "kubelet": "e7343310e03ff0d424df4397bdfa4468947d6d1f0f93dac586c1e8d6e4086d5d",
            "kubectl": "36e2f4ac66259232341dd7866952d64a958846470f6a9a6a813b9117bd965207",
        },
        "arm64": {
            "kubeadm": "80097a3c4ef824f4edfe131d2bd429772c4be3a460c42a44f2320164a917de32",
            "kubelet": "73475c6db8fd8a9780b1b378fa2f917875e6146166c24603c1abc6eafd4493a8",
            "kubectl": "706256e21a4e9192ee62d1a007ac0bfcff2b0b26e92cc7baad487a6a5d08ff82",
        },
    },
    "1.35.0": {
        "amd64": {
            "kubeadm": "729e7fb34e4f1bfcf2bdaf2a14891ed64bd18c47aaab42f8cc5030875276cfed",
            "kubelet": "2f4ed7778681649b81244426c29c5d98df60ccabf83d561d69e61c1cbb943ddf",
            "kubectl": "a2e984a18a0c063279d692533031c1eff93a262afcc0afdc517375432d060989",
        },
        "arm64": {
            "kubeadm": "1dac7dc2c6a56548bbc6bf8a7ecf4734f2e733fb336d7293d84541ebe52d0e50",
            "kubelet": "aa658d077348b43d238f50966a583f4244b2a7d45590c77b3b165b7d44983ab8",
            "kubectl": "58f82f9fe796c375c5c4b8439850b0f3f4d401a52434052f2df46035a8789e25",
        },
    },
}

# Calico's manifest (manifests/calico.yaml at the release tag). No published sha256 of it
# was found for any release, so the table is empty: give it as artifacts.checksums.calico.yaml.
CALICO: dict[str, dict[str, str]] = {}


class MissingChecksum(BundleError):
    """No pinned sha256 for an artifact of the pinned version."""


def kubernetes_sha256(
    version: str, arch: str, name: str, overrides: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(sha256, where it came from) for one Kubernetes binary; the config's override wins."""
    if overrides and name in overrides:
        return overrides[name], f"artifacts.checksums.{name}"
    found = KUBERNETES.get(version, {}).get(arch, {}).get(name)
    if found:
        return found, f"KUBERNETES in {TABLE}"
    raise MissingChecksum(
        f"no pinned sha256 for {name} {version} (linux/{arch}): "
        f'KUBERNETES["{version}"]["{arch}"]["{name}"] is not in {TABLE}\n'
        f"  fix: add it there, or set artifacts.checksums.{name} in the cluster config, "
        f"from the release's own checksum file "
        f"(https://dl.k8s.io/release/v{version}/bin/linux/{arch}/{name}.sha256), "
        "cross-checked with a second source"
    )


def calico_sha256(version: str, overrides: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(sha256, where it came from) for Calico's manifest; the config's override wins."""
    name = "calico.yaml"
    if overrides and name in overrides:
        return overrides[name], f"artifacts.checksums.{name}"
    found = CALICO.get(version, {}).get(name)
    if found:
        return found, f"CALICO in {TABLE}"
    raise MissingChecksum(
        f'no pinned sha256 for Calico {version}\'s {name}: CALICO["{version}"]["{name}"] '
        f"is not in {TABLE}\n"
        f"  fix: add it there, or set artifacts.checksums.{name} in the cluster config, "
        f"to the sha256 of manifests/{name} at Calico's v{version} tag once you have "
        "reviewed that file (Calico publishes no checksum for it)"
    )
