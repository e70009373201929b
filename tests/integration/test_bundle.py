"""The offline bundle for real: built from source with the real Go toolchain and
debootstrap (by `tox -e bundle` before this suite, or here when none is complete),
checked, then its binaries run and images loaded into Docker."""

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from provision.config import load
from provision.sources import bundle_dir
from tests.conftest import LAB, provision
from tests.integration.conftest import docker, ensure_bundle

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def bundle():
    ensure_bundle()
    return bundle_dir(load(LAB))


def test_bundle_check_passes(bundle):
    out = provision("bundle", "check", "-i", str(LAB))
    assert "bundle OK" in out.stdout
    manifest = json.loads((bundle / "manifest.json").read_text())
    names = {a["name"] for a in manifest["artifacts"]}
    assert {"kubeadm", "kubelet", "kubectl"} <= names
    assert "registry.k8s.io/kube-proxy:v1.35.4" in names
    assert not list(bundle.parent.glob(f".{bundle.name}-build-*")), "staging dir left behind"


def test_kubeadm_reports_pinned_version(bundle):
    out = subprocess.run(
        [str(bundle / "bin" / "kubeadm"), "version", "-o", "short"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "v1.35.4"


def test_bundle_check_finds_damage(bundle, tmp_path):
    kubectl = bundle / "bin" / "kubectl"
    saved = tmp_path / "kubectl"
    saved.write_bytes(kubectl.read_bytes())
    try:
        with kubectl.open("ab") as f:
            f.write(b"x")
        out = provision("bundle", "check", "-i", str(LAB), check=False)
        assert out.returncode == 6
        assert "bin/kubectl: sha256 differs" in out.stderr and "fix:" in out.stderr
    finally:
        kubectl.write_bytes(saved.read_bytes())


@pytest.mark.parametrize(
    ("image", "expect"),
    [
        ("kube-proxy-v1.35.4.tar", "Kubernetes v1.35.4"),
        ("etcd-3.6.6-0.tar", "etcd Version: 3.6.6"),
    ],
)
def test_image_loads_and_runs(bundle, image, expect):
    loaded = docker("load", "-i", str(bundle / "images" / image))
    ref = loaded.strip().splitlines()[-1].split("Loaded image: ")[-1]
    assert ref.startswith("registry.k8s.io/")
    try:
        out = docker("run", "--rm", "--network", "none", ref, "--version")
        assert expect in out
    finally:
        docker("rmi", ref)


# --- Calico -------------------------------------------------------------------------------


def _calico_manifest_images(bundle) -> set[str]:
    images = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "image" and isinstance(value, str):
                    images.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for doc in yaml.safe_load_all((bundle / "manifests" / "calico.yaml").read_text()):
        walk(doc)
    return images


def _artifacts(bundle) -> list[dict]:
    return json.loads((bundle / "manifest.json").read_text())["artifacts"]


def _image_path(bundle, ref: str) -> Path:
    (artifact,) = [a for a in _artifacts(bundle) if a["kind"] == "image" and a["name"] == ref]
    return bundle / artifact["path"]


def test_calico_images_match_the_stored_manifest(bundle):
    (manifest,) = [a for a in _artifacts(bundle) if a["kind"] == "manifest"]
    assert manifest["path"] == "manifests/calico.yaml"
    wanted = _calico_manifest_images(bundle)
    assert {r.split(":")[0].rsplit("/", 2)[-2:][1] for r in wanted} == {
        "node",
        "cni",
        "kube-controllers",
    }
    images = {a["name"] for a in _artifacts(bundle) if a["kind"] == "image"}
    assert wanted <= images, f"not in the bundle: {wanted - images}"
    # Calico's binaries live only inside its images
    binaries = {a["name"] for a in _artifacts(bundle) if a["kind"] == "binary"}
    assert binaries == {"kubeadm", "kubelet", "kubectl", "etcdctl", "etcdutl", "cri-dockerd"}


def test_bundle_holds_the_lab_addon_images(bundle):
    """The images addons.images names under provision.local are built and load."""
    addon = {a["name"]: a for a in _artifacts(bundle) if a["kind"] == "addon-image"}
    assert set(addon) == {
        "provision.local/addons/mariadb:10.11",
        "provision.local/addons/rabbitmq:3.10",
        "provision.local/addons/zipkin:3.5.1",
        "provision.local/addons/opensearch:2.19.6",
        "provision.local/addons/rsyslog:8.2302",
    }
    assert addon["provision.local/addons/mariadb:10.11"]["version"].startswith("10.11.")
    assert addon["provision.local/addons/rsyslog:8.2302"]["version"].startswith("8.2302.")
    loaded = docker(
        "load", "-i", str(bundle / addon["provision.local/addons/zipkin:3.5.1"]["path"])
    )
    assert "provision.local/addons/zipkin:3.5.1" in loaded


def _load(bundle, ref: str) -> None:
    loaded = docker("load", "-i", str(_image_path(bundle, ref)))
    # docker prints docker.io/calico/node:TAG as calico/node:TAG
    assert f"Loaded image: {ref.removeprefix('docker.io/')}" in loaded


def test_calico_node_image_runs(bundle):
    (ref,) = [r for r in _calico_manifest_images(bundle) if "/calico/node:" in r]
    _load(bundle, ref)
    try:
        out = docker(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/calico-node", ref, "-v"
        )
        assert out.strip() == ref.rsplit(":", 1)[1]
        tools = "start_runit runsvdir sv svlogd which iptables-legacy-save ipset ip conntrack"
        script = f"for t in {tools}; do command -v $t || echo missing $t; done"
        out = docker(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", ref, "-c", script
        )
        assert "missing" not in out and len(out.split()) == len(tools.split()), out
        config = json.loads(docker("image", "inspect", ref))[0]["Config"]
        assert config["Cmd"] == ["start_runit"]
        assert "SVDIR=/etc/service/enabled" in config["Env"]
    finally:
        docker("rmi", ref)


def _layer_files(image: Path) -> dict[str, tarfile.TarInfo]:
    """Every entry of every layer of an image tarball, by absolute path."""
    found = {}
    with tarfile.open(image) as outer:
        (entry,) = json.loads(outer.extractfile("manifest.json").read())
        for layer in entry["Layers"]:
            data = gzip.decompress(outer.extractfile(layer).read())
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                found.update({"/" + m.name: m for m in tar.getmembers()})
    return found


def test_calico_cni_image_has_the_plugins(bundle):
    (ref,) = [r for r in _calico_manifest_images(bundle) if "/calico/cni:" in r]
    files = _layer_files(_image_path(bundle, ref))
    for name in ("install", "calico", "calico-ipam", "portmap", "bandwidth", "loopback",
                 "host-local"):  # fmt: skip
        member = files[f"/opt/cni/bin/{name}"]
        assert member.isfile() or member.islnk(), name
        assert member.mode & 0o111, name
    assert files["/opt/cni/bin/calico-ipam"].linkname == "opt/cni/bin/calico"
    _load(bundle, ref)
    try:
        for name in ("calico", "calico-ipam"):  # one binary, it acts by the name it runs as
            entrypoint = f"/opt/cni/bin/{name}"
            out = docker("run", "--rm", "--network", "none", "--entrypoint", entrypoint, ref, "-v")
            assert out.strip() == ref.rsplit(":", 1)[1]
    finally:
        docker("rmi", ref)


def test_calico_kube_controllers_image(bundle):
    (ref,) = [r for r in _calico_manifest_images(bundle) if "/calico/kube-controllers:" in r]
    files = _layer_files(_image_path(bundle, ref))
    assert {"/usr/bin/kube-controllers", "/usr/bin/check-status"} <= set(files)
    assert files["/status/status.json"].uid == 999
    _load(bundle, ref)
    try:
        out = docker("run", "--rm", "--network", "none", ref, "--version")
        assert out.strip() == ref.rsplit(":", 1)[1]
    finally:
        docker("rmi", ref)
