import json

import pytest
import yaml

from provision.apt_mirror import host_sources, mirror_for
from provision.config.model import ClusterConfig
from provision.errors import BundleError, HostError
from provision.playbooks.result import failure_message, stats_from_event
from provision.playbooks.variables import playbook_vars
from provision.sources import resolve_sources
from tests.conftest import LAB


def config_with(**changes) -> ClusterConfig:
    data = yaml.safe_load(LAB.read_text())
    for section, values in changes.items():
        data[section].update(values)
    return ClusterConfig.model_validate(data)


def test_auto_sources_follow_the_bundle(tmp_path):
    config = config_with(
        artifacts={"source": "auto", "bundle_dir": str(tmp_path)}, runtime={"docker_source": "auto"}
    )
    assert resolve_sources(config).artifacts == "online"
    assert resolve_sources(config).docker == "upstream"
    (tmp_path / "manifest.json").write_text("{}")
    assert resolve_sources(config).artifacts == "bundle"
    assert resolve_sources(config).docker == "distribution"


def test_explicit_sources_win(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    config = config_with(
        artifacts={"source": "online", "bundle_dir": str(tmp_path)},
        runtime={"docker_source": "distribution"},
    )
    assert (resolve_sources(config).artifacts, resolve_sources(config).docker) == (
        "online",
        "distribution",
    )


def test_bundle_vars_carry_checksums_and_images(tmp_path):
    manifest = {
        "format": 1,
        "kubernetes": "1.35.4",
        "artifacts": [
            {
                "name": "kubeadm",
                "kind": "binary",
                "path": "bin/kubeadm",
                "version": "1.35.4",
                "sha256": "ab" * 32,
            },
            {
                "name": "registry.k8s.io/pause:3.10.1",
                "kind": "image",
                "path": "images/pause.tar",
                "version": "3.10.1",
                "sha256": "cd" * 32,
            },
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    config = config_with(artifacts={"source": "bundle", "bundle_dir": str(tmp_path)})
    v = playbook_vars(config)
    assert v["kube_binaries_sha256"] == {"kubeadm": "ab" * 32}
    assert v["kube_images"] == {"registry.k8s.io/pause:3.10.1": "images/pause.tar"}
    assert v["sandbox_image"] == "registry.k8s.io/pause:3.10.1"
    assert "SystemVerification" in v["container_preflight_ignore"]


def test_bundle_for_another_release_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format": 1, "kubernetes": "1.34.2", "artifacts": []})
    )
    config = config_with(artifacts={"source": "bundle", "bundle_dir": str(tmp_path)})
    with pytest.raises(BundleError, match=r"bundle is for Kubernetes 1\.34\.2"):
        playbook_vars(config)


def write_apt(tmp_path, sources: str = "", lists: str = ""):
    (tmp_path / "sources.list.d").mkdir()
    if sources:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    if lists:
        (tmp_path / "sources.list").write_text(lists)
    return tmp_path


def test_mirror_from_deb822(tmp_path):
    apt = write_apt(
        tmp_path,
        sources=(
            "Types: deb deb-src\nURIs: http://mirror.example/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main contrib\n\n"
            "Types: deb\nURIs: http://mirror.example/debian-security\n"
            "Suites: bookworm-security\nComponents: main\n"
        ),
    )
    src = mirror_for("bookworm", apt)
    assert (src.uri, src.components) == ("http://mirror.example/debian", ("main", "contrib"))
    assert mirror_for("bookworm-security", apt).uri.endswith("debian-security")


def test_mirror_from_one_line_format_with_options(tmp_path):
    apt = write_apt(
        tmp_path,
        lists=(
            "# comment\ndeb-src http://x/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://x/debian bookworm main\n"
        ),
    )
    assert host_sources(apt)[0].uri == "http://x/debian"
    assert mirror_for("bookworm", apt).suites == ("bookworm",)


def test_no_mirror_for_suite_is_a_clear_error(tmp_path):
    apt = write_apt(tmp_path, lists="deb http://x/debian trixie main\n")
    with pytest.raises(HostError, match="carries Debian bookworm"):
        mirror_for("bookworm", apt)


def test_stats_and_failure_messages():
    stats = stats_from_event(
        {"ok": {"a": 3}, "changed": {"a": 1}, "failures": {"b": 1}, "dark": {"c": 1}}
    )
    assert (stats["a"].ok, stats["a"].changed) == (3, 1)
    assert stats["b"].failed == 1 and stats["c"].unreachable == 1
    loop = {
        "msg": "One or more items failed",
        "results": [
            {"item": "x", "failed": True, "msg": "no such file"},
            {"item": "y", "failed": False},
        ],
    }
    assert failure_message(loop) == "item 'x': no such file"
    assert "output has been hidden" in failure_message(
        {
            "censored": "the output has been hidden due to the fact that 'no_log: true' was "
            "specified for this result"
        }
    )
