"""Pure logic of Calico's part of the bundle: image names from a manifest, the wrapper
go.mod, version flags, calico-node's filesystem files, hard links and owners in layers."""

import gzip
import io
import json
import tarfile

import pytest

from provision.bundle import calico, gomod
from provision.bundle.images import File, ImageConfig, add_files, config_blob, write_layer
from provision.errors import BundleError

MANIFEST = """---
# Source: calico/templates/calico-node.yaml
kind: DaemonSet
spec:
  template:
    spec:
      initContainers:
        - name: upgrade-ipam
          image: docker.io/calico/cni:v3.28.5
          command: ["/opt/cni/bin/calico-ipam", "-upgrade"]
        - name: install-cni
          image: "docker.io/calico/cni:v3.28.5"
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.28.5  # the node agent
          env:
            - name: IMAGE_NOTE
              value: "image: not/an-image:v1"
---
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: calico-kube-controllers
          image: 'docker.io/calico/kube-controllers:v3.28.5'
"""

UPSTREAM_GOMOD = """module github.com/projectcalico/calico

go 1.23.8

require (
\tgithub.com/projectcalico/api v0.0.0-00010101000000-000000000000
\tk8s.io/api v0.29.15
)

replace (
\tgithub.com/projectcalico/api => ./api

\tk8s.io/api => k8s.io/api v0.29.15
\tk8s.io/kubernetes => k8s.io/kubernetes v1.29.15 // vendored copies

\t// Use an untagged knftables version that has changes we need.
\tsigs.k8s.io/knftables => sigs.k8s.io/knftables v0.0.17-0.20240627140917-8d2660d78107
)

replace github.com/x/y v1.0.0 => github.com/z/y v1.0.1
"""


def test_image_refs_from_manifest():
    refs = calico.image_refs(MANIFEST)
    assert refs == {
        "cni": "docker.io/calico/cni:v3.28.5",
        "node": "docker.io/calico/node:v3.28.5",
        "kube-controllers": "docker.io/calico/kube-controllers:v3.28.5",
    }


def test_image_refs_refuses_unknown_missing_or_two_tags():
    with pytest.raises(BundleError, match="calico/typha"):
        calico.image_refs(MANIFEST + "          image: docker.io/calico/typha:v3.28.5\n")
    with pytest.raises(BundleError, match="missing kube-controllers"):
        calico.image_refs(MANIFEST.replace("'docker.io/calico/kube-controllers:v3.28.5'", "x"))
    with pytest.raises(BundleError, match="two node images"):
        calico.image_refs(MANIFEST + "          image: docker.io/calico/node:v3.29.0\n")


def test_wrapper_repeats_replaces_with_published_api():
    text = gomod.replace_wrapper(
        UPSTREAM_GOMOD, calico.MODULE, calico.VERSION, calico.WRAPPER, calico.LOCAL_REPLACES
    )
    lines = text.splitlines()
    assert lines[0] == "module provision.local/calico"
    assert "go 1.23.8" in lines
    assert f"require github.com/projectcalico/calico {calico.VERSION}" in lines
    replaces = [line.strip() for line in lines if "=>" in line]
    assert replaces == [
        "github.com/projectcalico/api => github.com/projectcalico/api "
        "v0.0.0-20240708202104-e3f70b269c2c",
        "k8s.io/api => k8s.io/api v0.29.15",
        "k8s.io/kubernetes => k8s.io/kubernetes v1.29.15",
        "sigs.k8s.io/knftables => sigs.k8s.io/knftables v0.0.17-0.20240627140917-8d2660d78107",
        "github.com/x/y v1.0.0 => github.com/z/y v1.0.1",
    ]
    assert "./api" not in text and "latest" not in text


def test_wrapper_refuses_unknown_local_replace():
    with pytest.raises(BundleError, match=r"\./api"):
        gomod.replace_wrapper(UPSTREAM_GOMOD, calico.MODULE, calico.VERSION, calico.WRAPPER, {})


def test_version_flags_and_commit():
    assert calico.commit_of(calico.VERSION) == "a0db560f0520"
    flags = calico.ldflags("v3.28.5", "a0db560f0520", "2025-08-13T17:03:00Z")
    assert flags.startswith("-s -w -X main.VERSION=v3.28.5 ")
    node = "github.com/projectcalico/calico/node"
    assert f"-X {node}/pkg/lifecycle/startup.VERSION=v3.28.5" in flags
    assert f"-X {node}/buildinfo.GitVersion=v3.28.5" in flags
    assert f"-X {node}/buildinfo.GitRevision=a0db560f0520" in flags


def test_node_files_layout(tmp_path):
    fs = tmp_path / "filesystem"
    (fs / "etc/calico/confd/config").mkdir(parents=True)
    (fs / "etc/calico/confd/config/.gitkeep").write_text("")
    (fs / "etc/service/available/felix").mkdir(parents=True)
    (fs / "etc/service/available/felix/run").write_text("#!/bin/sh\nexec calico-node -felix\n")
    (fs / "etc/rc.local").write_text("calico-node -startup || exit 1\n")
    (fs / "etc/calico/felix.cfg").write_text("[global]\n")
    (fs / "sbin").mkdir()
    (fs / "sbin/start_runit").write_text("#!/bin/sh\n")
    files, dirs = calico.node_files(fs)
    modes = {f.dest: f.mode for f in files}
    assert modes == {
        "/etc/calico/felix.cfg": 0o644,
        "/etc/rc.local": 0o755,
        "/etc/service/available/felix/run": 0o755,
        "/usr/sbin/start_runit": 0o755,
    }
    assert dirs == {"etc/calico/confd/config": 0o755}


def test_layer_hard_link_owner_and_workdir(tmp_path):
    binary = tmp_path / "calico"
    binary.write_bytes(b"\x7fELF" * 10)
    files = [
        File("/opt/cni/bin/calico-ipam", b"", link="/opt/cni/bin/calico"),
        File("/opt/cni/bin/calico", binary),
        File("/status/status.json", b"", 0o644, 999, 999),
    ]
    layer = write_layer(tmp_path / "l", lambda tar: add_files(tar, files))
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.path.read_bytes()))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        names = tar.getnames()
    assert names.index("opt/cni/bin/calico") < names.index("opt/cni/bin/calico-ipam")
    assert members["opt/cni/bin/calico-ipam"].islnk()
    assert members["opt/cni/bin/calico-ipam"].linkname == "opt/cni/bin/calico"
    assert members["status/status.json"].uid == 999
    assert members["status"].uid == 0
    config = json.loads(config_blob([layer], ImageConfig(workdir="/opt/cni/bin")))
    assert config["config"]["WorkingDir"] == "/opt/cni/bin"
    assert "WorkingDir" not in json.loads(config_blob([layer], ImageConfig()))["config"]
