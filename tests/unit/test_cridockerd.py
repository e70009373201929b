"""cri-dockerd in the bundle: wrapper module, version ldflags, the build's go calls."""

import json
from pathlib import Path

import pytest

from provision.bundle import cridockerd
from provision.config import load
from provision.errors import BundleError
from tests.conftest import LAB

COMMIT = "2104021544064fc73260e6ef9f26fcdc253382ed"
INFO = {
    "Version": "v0.3.17",
    "Time": "2025-03-28T04:17:24Z",
    "Origin": {
        "VCS": "git",
        "URL": "https://github.com/Mirantis/cri-dockerd",
        "Hash": COMMIT,
        "Ref": "refs/tags/v0.3.17",
    },
}
# The shape of cri-dockerd v0.3.17's go.mod, shortened.
UPSTREAM_GOMOD = """module github.com/Mirantis/cri-dockerd

go 1.23.7

require (
\tgithub.com/docker/docker v25.0.8+incompatible
\tk8s.io/cri-api v0.29.10
\tk8s.io/cri-api/v1alpha2 v0.29.10
\tk8s.io/kubelet v0.0.0
\tk8s.io/kubernetes v1.29.10
)

require k8s.io/mount-utils v0.27.8 // indirect

replace (
\tgoogle.golang.org/grpc/naming => google.golang.org/grpc v1.29.0
\tk8s.io/cri-api => k8s.io/cri-api v0.30.1
\tk8s.io/cri-api/v1alpha2 => k8s.io/cri-api v0.25.16 // CRI v1alpha2 lives in this one
\tk8s.io/kubelet => k8s.io/kubelet v0.29.10
\tk8s.io/kubernetes => k8s.io/kubernetes v1.29.10
)
"""
UPSTREAM_GOSUM = (
    "k8s.io/component-helpers v0.29.10 h1:ND2o9OElB42N4bt77REMiiOdNQ1P6RJc/jIXgyPjfJw=\n"
    "k8s.io/component-helpers v0.29.10/go.mod h1:erz34qUpzyNInTRehZaNqxYStgDcEh2ojpQcV+pLX9c=\n"
)
VERSION_PKG = "github.com/Mirantis/cri-dockerd/cmd/version"


def test_module_version_is_the_tag():
    assert cridockerd.module_version("0.3.17") == "v0.3.17"
    assert cridockerd.module_version("v0.3.17") == "v0.3.17"


def test_commit_from_module_info():
    assert cridockerd.commit_of(INFO) == "2104021"


@pytest.mark.parametrize(
    "info",
    [
        {"Version": "v0.3.17"},  # a proxy that records no origin
        {"Origin": {"VCS": "hg", "Hash": COMMIT}},
        {"Origin": {"VCS": "git", "Hash": "2104021"}},  # not a full commit id
        {"Origin": None},
    ],
)
def test_commit_unknown(info):
    assert cridockerd.commit_of(info) is None


def test_ldflags_set_version_and_commit():
    flags = cridockerd.ldflags("0.3.17", "2104021")
    assert flags == (
        f"-s -w -X {VERSION_PKG}.Version=0.3.17 -X {VERSION_PKG}.PreRelease= "
        f"-X {VERSION_PKG}.GitCommit=2104021"
    )


def test_ldflags_without_commit_keep_upstream_default():
    flags = cridockerd.ldflags("v0.3.17", None)
    assert f"-X {VERSION_PKG}.Version=0.3.17" in flags
    assert "GitCommit" not in flags


def test_wrapper_requires_the_pin_and_repeats_replaces():
    files = cridockerd.wrapper_files(UPSTREAM_GOMOD, UPSTREAM_GOSUM, "0.3.17")
    lines = files["go.mod"].splitlines()
    assert lines[0] == "module provision.local/cri-dockerd"
    assert "go 1.23.7" in lines
    assert "require github.com/Mirantis/cri-dockerd v0.3.17" in lines
    assert "\tk8s.io/cri-api => k8s.io/cri-api v0.30.1" in lines
    assert "\tk8s.io/cri-api/v1alpha2 => k8s.io/cri-api v0.25.16" in lines
    assert "\tk8s.io/kubernetes => k8s.io/kubernetes v1.29.10" in lines
    assert sum(" => " in line for line in lines) == 5
    assert "latest" not in files["go.mod"]
    assert "mount-utils" not in files["go.mod"]  # requires come through the dependency


def test_wrapper_takes_upstream_gosum_verbatim():
    files = cridockerd.wrapper_files(UPSTREAM_GOMOD, UPSTREAM_GOSUM, "0.3.17")
    assert files["go.sum"] == UPSTREAM_GOSUM


def test_wrapper_refuses_a_directory_replace():
    upstream = UPSTREAM_GOMOD.replace(
        "k8s.io/kubelet => k8s.io/kubelet v0.29.10", "k8s.io/kubelet => ./staging/kubelet"
    )
    with pytest.raises(BundleError, match=r"k8s\.io/kubelet"):
        cridockerd.wrapper_files(upstream, UPSTREAM_GOSUM, "0.3.17")


class FakeGo:
    """Records the go runs cridockerd.build makes; serves a module from tmp files."""

    def __init__(self, tmp: Path, gosum: bool = True):
        self.dir = tmp / "modcache" / "cri-dockerd@v0.3.17"
        self.dir.mkdir(parents=True)
        if gosum:
            (self.dir / "go.sum").write_text(UPSTREAM_GOSUM)
        (tmp / "v0.3.17.mod").write_text(UPSTREAM_GOMOD)
        (tmp / "v0.3.17.info").write_text(json.dumps(INFO))
        self.tmp = tmp
        self.calls: list[tuple] = []

    def module_info(self, path, version, cwd):
        self.calls.append(("download", path, version))
        return {
            "Path": path,
            "Version": version,
            "Info": str(self.tmp / "v0.3.17.info"),
            "GoMod": str(self.tmp / "v0.3.17.mod"),
            "Dir": str(self.dir),
        }

    def build(self, module_dir, package, out, ldflags, log_name):
        self.calls.append(("build", module_dir, package, out, ldflags))
        return 1.0


def test_build_writes_wrapper_and_builds_the_main_package(tmp_path):
    go = FakeGo(tmp_path)
    module, out = tmp_path / "work" / "cri-dockerd", tmp_path / "bundle" / "bin" / "cri-dockerd"
    cridockerd.build(go, "0.3.17", module, out)
    assert go.calls[0] == ("download", "github.com/Mirantis/cri-dockerd", "v0.3.17")
    _, module_dir, package, target, flags = go.calls[1]
    assert (module_dir, package, target) == (module, "github.com/Mirantis/cri-dockerd", out)
    assert flags == cridockerd.ldflags("0.3.17", "2104021")
    assert "require github.com/Mirantis/cri-dockerd v0.3.17" in (module / "go.mod").read_text()
    assert (module / "go.sum").read_text() == UPSTREAM_GOSUM
    assert out.parent.is_dir()


def test_build_without_upstream_gosum_says_so(tmp_path):
    go = FakeGo(tmp_path, gosum=False)
    with pytest.raises(BundleError, match=r"no go\.sum"):
        cridockerd.build(go, "0.3.17", tmp_path / "m", tmp_path / "out")
    assert [c[0] for c in go.calls] == ["download"]


def test_lab_pins_cri_dockerd():
    assert load(LAB).versions.cri_dockerd == "0.3.17"
