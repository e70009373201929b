"""The offline bundle for real: built from source with the real Go toolchain and
debootstrap, checked, then its binaries run and one image loaded into Docker."""

import json
import subprocess

import pytest

from provision.config import load
from provision.sources import bundle_dir
from tests.conftest import LAB
from tests.integration.conftest import docker, provision

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def bundle():
    provision("bundle", "build", "-i", str(LAB), timeout=3600)
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
