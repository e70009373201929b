"""What `provision upgrade` decides before it changes anything: one minor at a time,
no downgrade, the version skew policy, a bundle that holds the target, the config
valid at the target; and cluster.yml's pin rewritten with its comments kept. The
refusals run through the real CLI on a lab that has no machines: each must exit 2
with its fix, and leave cluster.yml and the lab's record as they were."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from provision.backup.drill import previous_release
from provision.bundle.manifest import Artifact, bundle_releases, read_manifest, write_manifest
from provision.config.edit import set_version
from provision.errors import BundleError, ConfigError, UsageError
from provision.upgrade import check_skew, check_step, not_ready
from tests.conftest import ROOT, provision


def test_one_minor_at_a_time_and_never_down(tmp_path):
    f = tmp_path / "cluster.yml"
    check_step("1.34.4", "1.35.4", f)  # the next minor
    check_step("1.35.1", "1.35.4", f)  # a patch
    check_step("1.35.4", "1.35.4", f)  # nothing to do, not refused
    with pytest.raises(UsageError, match=r"(?s)skips a minor.*newest 1\.35\.x first"):
        check_step("1.34.4", "1.36.1", f)
    with pytest.raises(UsageError, match=r"older than the lab's Kubernetes 1\.35\.4"):
        check_step("1.35.4", "1.34.4", f)
    with pytest.raises(UsageError, match="skips a minor"):
        check_step("1.35.4", "2.0.0", f)
    with pytest.raises(UsageError, match=r"'1\.35' is not a Kubernetes release"):
        check_step("1.34.4", "1.35", f)
    with pytest.raises(UsageError, match="not a Kubernetes release"):
        check_step("1.34.4", "1.35.4; rm -rf /", f)


def node(name, kubelet, ready="True"):
    return {
        "metadata": {"name": name},
        "status": {
            "nodeInfo": {"kubeletVersion": kubelet},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def test_the_skew_policy_before_and_during_an_upgrade():
    before = [node("cp1", "v1.34.4"), node("w1", "v1.34.4")]
    assert check_skew(before, "v1.34.4", "1.34.4", "1.35.4") == []
    # resumed after the control plane and w1: mixed, every kubelet at most the server's
    during = [node("cp1", "v1.35.4"), node("w1", "v1.34.4")]
    assert check_skew(during, "v1.35.4", "1.34.4", "1.35.4") == []
    newer = check_skew(during, "v1.34.4", "1.34.4", "1.35.4")
    assert newer == ["cp1's kubelet (v1.35.4) is newer than the API server"]
    stray = check_skew([node("w1", "v1.33.7")], "v1.34.4", "1.34.4", "1.35.4")
    assert stray == ["w1's kubelet runs v1.33.7, not 1.34.4 or 1.35.4"]
    assert check_skew([], "v1.36.1", "1.34.4", "1.35.4") == [
        "the API server runs v1.36.1, not 1.34.4 or 1.35.4"
    ]
    assert not_ready([node("cp1", "v1", "True"), node("w1", "v1", "Unknown")]) == ["w1"]


def test_the_pin_changes_and_nothing_else(lab_text):
    changed = set_version(lab_text, "kubernetes", "1.34.4", "cluster.yml")
    diff = [
        (a, b) for a, b in zip(lab_text.splitlines(), changed.splitlines(), strict=True) if a != b
    ]
    assert diff == [("  kubernetes: 1.35.4", "  kubernetes: 1.34.4")]
    quoted = 'versions:  # pins\n  kubernetes: "1.34.4"  # kubeadm\n  calico: 3.28.5\n'
    assert set_version(quoted, "kubernetes", "1.35.4", "f") == (
        'versions:  # pins\n  kubernetes: "1.35.4"  # kubeadm\n  calico: 3.28.5\n'
    )
    # a `kubernetes:` outside the versions table is not the pin
    other = "cluster:\n  kubernetes: x\nversions:\n  calico: 1\n"
    with pytest.raises(ConfigError, match=r"versions\.kubernetes"):
        set_version(other, "kubernetes", "1.35.4", "f")


@pytest.fixture
def lab_text():
    return (ROOT / "inventories" / "lab" / "cluster.yml").read_text()


def two_releases(bundle):
    """A bundle manifest of 1.35.4 and 1.34.4: their own binaries and images, one
    image they share (pause), and what every release shares (Calico)."""
    files = {
        "bin/kubeadm": ("kubeadm", "binary", "1.35.4"),
        "releases/1.34.4/bin/kubeadm": ("kubeadm", "binary", "1.34.4"),
        "images/kube-apiserver-v1.35.4.tar": (
            "registry.k8s.io/kube-apiserver:v1.35.4",
            "image",
            "v1.35.4",
        ),
        "images/kube-apiserver-v1.34.4.tar": (
            "registry.k8s.io/kube-apiserver:v1.34.4",
            "image",
            "v1.34.4",
        ),
        "images/pause-3.10.1.tar": ("registry.k8s.io/pause:3.10.1", "image", "3.10.1"),
        "manifests/calico.yaml": ("calico.yaml", "manifest", "3.28.5"),
    }
    artifacts = []
    for path, (name, kind, version) in files.items():
        (bundle / path).parent.mkdir(parents=True, exist_ok=True)
        (bundle / path).write_text(path)
        digest = hashlib.sha256(path.encode()).hexdigest()
        artifacts.append(Artifact(name, kind, path, version, digest))
    releases = {
        "1.35.4": ["bin/kubeadm", "images/kube-apiserver-v1.35.4.tar", "images/pause-3.10.1.tar"],
        "1.34.4": [
            "releases/1.34.4/bin/kubeadm",
            "images/kube-apiserver-v1.34.4.tar",
            "images/pause-3.10.1.tar",
        ],
    }
    write_manifest(bundle, "1.35.4", artifacts, releases)


def test_a_bundle_of_two_releases_gives_each_its_own_and_the_shared(tmp_path):
    two_releases(tmp_path)
    assert sorted(bundle_releases(tmp_path)) == ["1.34.4", "1.35.4"]
    new = {a.path for a in read_manifest(tmp_path, "1.35.4")}
    old = {a.path for a in read_manifest(tmp_path, "1.34.4")}
    assert new == {
        "bin/kubeadm",
        "images/kube-apiserver-v1.35.4.tar",
        "images/pause-3.10.1.tar",
        "manifests/calico.yaml",
    }
    assert old == {
        "releases/1.34.4/bin/kubeadm",
        "images/kube-apiserver-v1.34.4.tar",
        "images/pause-3.10.1.tar",
        "manifests/calico.yaml",
    }
    with pytest.raises(BundleError, match=r"for Kubernetes 1.34.4, 1.35.4 .*pins 1.36.1"):
        read_manifest(tmp_path, "1.36.1")


@pytest.mark.parametrize(
    "releases",
    [["1.35.4"], {"1.34.4": ["x"]}, {"1.35.4": "bin/kubeadm"}, {"1.35.4": [1]}],
    ids=["a list", "without its own release", "paths not a list", "a path not a string"],
)
def test_a_manifest_whose_releases_are_not_ours_is_refused(tmp_path, releases):
    two_releases(tmp_path)
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["releases"] = releases
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="its releases are not a map of version to paths"):
        read_manifest(tmp_path, "1.35.4")


def run_upgrade(lab, write_config, tmp_path, to, damage=False, **versions):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    lab["machines"]["provider"] = "docker"
    lab["versions"].update(versions)
    bundle = tmp_path / "bundle"
    lab["artifacts"] = {"source": "bundle", "bundle_dir": str(bundle)}
    bundle.mkdir()
    two_releases(bundle)
    if damage:
        (bundle / "images/kube-apiserver-v1.35.4.tar").write_text("not the image")
    path = write_config(lab)
    before = path.read_bytes()
    out = provision("upgrade", "--to", to, "-i", str(path), check=False, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert path.read_bytes() == before
    assert not list((tmp_path / "state").rglob("operation.json"))
    return out.stderr


def test_upgrade_refuses_a_skipped_minor(lab, write_config, tmp_path):
    err = run_upgrade(lab, write_config, tmp_path, "1.37.2", kubernetes="1.35.4")
    assert "skips a minor" in err and "upgrade to the newest 1.36.x first" in err


def test_upgrade_refuses_a_downgrade(lab, write_config, tmp_path):
    err = run_upgrade(lab, write_config, tmp_path, "1.34.4", kubernetes="1.35.4")
    assert "provision does not downgrade" in err and "nothing was changed" in err


def test_upgrade_refuses_a_target_not_in_the_bundle(lab, write_config, tmp_path):
    err = run_upgrade(lab, write_config, tmp_path, "1.35.5", kubernetes="1.35.4")
    assert "holds Kubernetes 1.34.4, 1.35.4, not 1.35.5" in err
    assert "provision bundle build --also 1.35.5" in err


def test_upgrade_refuses_a_damaged_target_in_the_bundle(lab, write_config, tmp_path):
    lab["network"]["allow_untested_calico"] = True
    err = run_upgrade(lab, write_config, tmp_path, "1.35.4", damage=True, kubernetes="1.34.4")
    assert "images/kube-apiserver-v1.35.4.tar: sha256 differs from the manifest" in err


def test_upgrade_refuses_a_calico_not_tested_with_the_target(lab, write_config, tmp_path):
    lab["network"]["allow_untested_calico"] = False
    err = run_upgrade(lab, write_config, tmp_path, "1.35.4", kubernetes="1.34.4", calico="3.30.4")
    assert "versions.calico" in err and "Calico 3.30.4 is not tested with Kubernetes 1.35.4" in err
    assert "use Calico 3.31 with Kubernetes 1.35" in err


def test_the_drill_starts_from_the_newest_release_of_the_minor_before():
    assert previous_release(["1.35.4", "1.34.2", "1.34.4", "1.33.9"], "1.35.4") == "1.34.4"
    assert previous_release(["1.35.4", "1.33.9"], "1.35.4") is None
    assert previous_release(["1.35.4", "x.y", "1.34"], "1.35.4") is None


def test_the_upgrade_drill_refuses_a_bundle_without_the_release_before(lab, write_config, tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    lab["machines"]["provider"] = "docker"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write_manifest(bundle, "1.35.4", [])
    lab["artifacts"] = {"source": "bundle", "bundle_dir": str(bundle)}
    path = write_config(lab)
    out = provision("rebuild", "--upgrade-drill", "-i", str(path), check=False, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    text = " ".join(out.stderr.split())
    assert "holds no 1.34.x release (it holds 1.35.4)" in text and "nothing was changed" in text
    assert "provision bundle build --also 1.34.N" in text
    assert not list((tmp_path / "state").rglob("report.json"))
    assert "==> destroy" not in out.stdout + out.stderr  # refused before the rebuild began
