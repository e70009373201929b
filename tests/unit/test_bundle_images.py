"""Pure logic of the bundle: wrapper go.mod files, image tarballs, kubeadm's image list."""

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from provision.bundle import gomod
from provision.bundle.build import ImageRefs
from provision.bundle.images import File, ImageConfig, add_files, write_image, write_layer
from provision.errors import BundleError

UPSTREAM_GOMOD = """// This is a generated file. Do not edit directly.

module k8s.io/kubernetes

go 1.25.0

godebug default=go1.25

require (
\tgithub.com/spf13/cobra v1.10.0
\tk8s.io/api v0.0.0
\tk8s.io/apimachinery v0.0.0
\tk8s.io/kubelet v0.0.0
)

require (
\tk8s.io/sample-apiserver v0.0.0 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
\tk8s.io/kubelet => ./staging/src/k8s.io/kubelet
\tk8s.io/sample-cli-plugin => ./staging/src/k8s.io/sample-cli-plugin
)
"""

KUBEADM_LIST = """registry.k8s.io/kube-apiserver:v1.35.4
registry.k8s.io/kube-controller-manager:v1.35.4
registry.k8s.io/kube-scheduler:v1.35.4
registry.k8s.io/kube-proxy:v1.35.4
registry.k8s.io/coredns/coredns:v1.13.1
registry.k8s.io/pause:3.10.1
registry.k8s.io/etcd:3.6.6-0
"""


def test_kubernetes_wrapper_pins_required_staging_modules():
    text = gomod.kubernetes_wrapper(UPSTREAM_GOMOD, "1.35.4", "provision.local/kubernetes")
    lines = text.splitlines()
    assert lines[0] == "module provision.local/kubernetes"
    assert "go 1.25.0" in lines
    assert "godebug default=go1.25" in lines
    assert "require k8s.io/kubernetes v1.35.4" in lines
    replaces = [line.strip() for line in lines if "=>" in line]
    assert replaces == [
        "k8s.io/api => k8s.io/api v0.35.4",
        "k8s.io/apimachinery => k8s.io/apimachinery v0.35.4",
        "k8s.io/kubelet => k8s.io/kubelet v0.35.4",
    ]
    # a staging module kubernetes does not require (sample-*) is not replaced
    assert "sample-cli-plugin" not in text
    assert "./staging" not in text


def test_staging_version_and_ldflags():
    assert gomod.staging_version("v1.35.4") == "v0.35.4"
    with pytest.raises(BundleError):
        gomod.staging_version("2.0.0")
    flags = gomod.kubernetes_ldflags("1.35.4", "2026-04-15T18:01:22Z")
    assert flags.startswith("-s -w ")
    for package in gomod.KUBE_VERSION_PACKAGES:
        assert f"-X {package}.gitVersion=v1.35.4" in flags
        assert f"-X {package}.gitMinor=35" in flags
        assert f"-X {package}.gitCommit={'0' * 40}" in flags
        assert f"-X {package}.buildDate=2026-04-15T18:01:22Z" in flags


def test_plain_wrapper_requires_exact_versions():
    text = gomod.plain_wrapper("provision.local/etcd", {"go.etcd.io/etcd/server/v3": "v3.6.6"})
    assert "\tgo.etcd.io/etcd/server/v3 v3.6.6" in text.splitlines()
    assert "latest" not in text


def test_image_refs_from_kubeadm_listing():
    refs = ImageRefs.parse(KUBEADM_LIST)
    assert refs.refs["coredns"] == "registry.k8s.io/coredns/coredns:v1.13.1"
    assert refs.etcd_version() == "v3.6.6"
    assert refs.coredns_version() == "v1.13.1"
    assert refs.tag("pause") == "3.10.1"
    with pytest.raises(BundleError, match="etcd"):
        ImageRefs.parse(KUBEADM_LIST.replace("registry.k8s.io/etcd:3.6.6-0", ""))


def _image(tmp: Path, name: str) -> Path:
    binary = tmp / "tool"
    binary.write_bytes(b"\x7fELF not really" * 100)
    layer = write_layer(
        tmp / f"{name}.layer",
        lambda tar: add_files(
            tar, [File("/usr/local/bin/tool", binary), File("/etc/x.conf", b"x=1\n", 0o644)]
        ),
    )
    out = tmp / f"{name}.tar"
    write_image(out, "registry.k8s.io/tool:v1.0", [layer], ImageConfig(entrypoint=["/tool"]))
    return out


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() if m.isfile() else b"" for m in tar.getmembers()}


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_image_tar_is_oci_layout_and_docker_archive(tmp_path):
    files = _members(_image(tmp_path, "a"))
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}

    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "registry.k8s.io/tool:v1.0"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "v1.0"
    manifest_bytes = files["blobs/sha256/" + entry["digest"].split(":")[1]]
    assert _sha(manifest_bytes) == entry["digest"] and len(manifest_bytes) == entry["size"]

    manifest = json.loads(manifest_bytes)
    config_bytes = files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]]
    assert _sha(config_bytes) == manifest["config"]["digest"]
    config = json.loads(config_bytes)
    assert config["config"]["Entrypoint"] == ["/tool"]
    assert any("/usr/local/bin" in e for e in config["config"]["Env"])

    (layer_desc,) = manifest["layers"]
    layer = files["blobs/sha256/" + layer_desc["digest"].split(":")[1]]
    assert _sha(layer) == layer_desc["digest"] and len(layer) == layer_desc["size"]
    plain = gzip.decompress(layer)
    assert config["rootfs"]["diff_ids"] == [_sha(plain)]

    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["etc", "usr", "usr/local", "usr/local/bin", "etc/x.conf",
                                         "usr/local/bin/tool"]  # fmt: skip
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
    assert {m.name: m.mode for m in members}["usr/local/bin/tool"] == 0o755

    (docker,) = json.loads(files["manifest.json"])
    assert docker["RepoTags"] == ["registry.k8s.io/tool:v1.0"]
    assert docker["Config"] == "blobs/sha256/" + manifest["config"]["digest"].split(":")[1]
    assert docker["Layers"] == ["blobs/sha256/" + layer_desc["digest"].split(":")[1]]


def test_image_tar_is_deterministic(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _image(tmp_path / "one", "a").read_bytes()
    second = _image(tmp_path / "two", "b").read_bytes()
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        names = tar.getnames()
        assert all(m.mtime == 0 for m in tar.getmembers())
    files = [n for n in names if not n.startswith("blobs") or n.count("/") == 2]
    assert files == sorted(files)
