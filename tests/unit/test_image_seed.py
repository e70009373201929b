"""The image seed's plan (pure logic; tests/integration and tests/e2e run it for
real): what each node role holds, when the seed is made again, what it refuses,
and how a seeded node's containerd store is mounted."""

from pathlib import Path

import pytest

from provision.bundle.manifest import Artifact, write_manifest
from provision.errors import HostError
from provision.machines.providers.docker import docker_create_args, node_store_args
from provision.machines.seed import plan_seed, store_volume

K8S = "1.35.4"


def artifact(name: str, path: str, kind: str = "image", sha: str = "a" * 64) -> Artifact:
    return Artifact(name=name, kind=kind, path=path, version="1", sha256=sha)


IMAGES = [
    artifact("registry.k8s.io/kube-apiserver:v1.35.4", "images/kube-apiserver.tar"),
    artifact("registry.k8s.io/etcd:3.6.6-0", "images/etcd.tar"),
    artifact("registry.k8s.io/kube-proxy:v1.35.4", "images/kube-proxy.tar"),
    artifact("docker.io/calico/node:v3.28.5", "images/calico-node.tar"),
    artifact("provision.local/addons/zipkin:3.5.1", "images/addons/zipkin.tar", "addon-image"),
    artifact("kubelet", "bin/kubelet", "binary"),
]


def bundle(tmp_path: Path, artifacts=IMAGES) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_manifest(tmp_path, K8S, list(artifacts))
    return tmp_path


def test_every_image_is_seeded_and_workers_drop_the_control_plane_ones(tmp_path):
    seed = plan_seed("provision-node:abc", bundle(tmp_path), K8S)
    assert "kubelet" not in seed.images
    assert seed.images["provision.local/addons/zipkin:3.5.1"] == "images/addons/zipkin.tar"
    assert seed.control_plane_only == (
        "registry.k8s.io/etcd:3.6.6-0",
        "registry.k8s.io/kube-apiserver:v1.35.4",
    )
    assert seed.volume.startswith("provision-seed-")


def test_the_seed_is_made_again_when_the_node_image_or_an_image_changes(tmp_path):
    first = plan_seed("provision-node:abc", bundle(tmp_path / "a"), K8S).volume
    assert plan_seed("provision-node:abc", bundle(tmp_path / "b"), K8S).volume == first
    assert plan_seed("provision-node:def", bundle(tmp_path / "a"), K8S).volume != first
    changed = [*IMAGES[:-1], artifact("kubelet", "bin/kubelet", "binary", "b" * 64)]
    assert plan_seed("provision-node:abc", bundle(tmp_path / "c", changed), K8S).volume == first
    changed = [
        artifact("registry.k8s.io/kube-proxy:v1.35.4", "images/kube-proxy.tar", sha="c" * 64)
    ]
    assert plan_seed("provision-node:abc", bundle(tmp_path / "d", changed), K8S).volume != first


@pytest.mark.parametrize(
    "name, path",
    [
        ("registry.k8s.io/pause:3.10", "images/pause.tar; rm -rf /"),
        ("registry.k8s.io/pause:3.10", "../../etc/shadow"),
        ("registry.k8s.io/pause:3.10", "/etc/passwd"),
        ("registry.k8s.io/pause:3.10 $(reboot)", "images/pause.tar"),
    ],
)
def test_a_manifest_entry_that_is_not_a_plain_name_is_refused(tmp_path, name, path):
    with pytest.raises(HostError, match="not a plain image reference") as e:
        plan_seed("provision-node:abc", bundle(tmp_path / "b", [artifact(name, path)]), K8S)
    assert "manifest.json" in str(e.value) and "provision bundle build" in str(e.value)


def test_a_seeded_node_mounts_its_own_store_volume_instead_of_an_anonymous_one(tmp_path):
    def volumes(args):
        return [args[i + 1] for i, a in enumerate(args) if a == "-v"]

    assert "/var/lib/containerd" in volumes(docker_create_args("lab", tmp_path / "k"))
    seeded = volumes(docker_create_args("lab", tmp_path / "k", seeded=True))
    assert "/var/lib/containerd" not in seeded and "/var/lib/docker" in seeded
    assert store_volume("lab", "w1") == "lab-w1-containerd"
    assert volumes(node_store_args("lab", "w1")) == ["lab-w1-containerd:/var/lib/containerd"]
