"""`provision bundle fetch` against a real HTTP server on 127.0.0.1 that serves small fake
release files under upstream-like paths; the pinned-checksum table and image pinning."""

import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from click.testing import CliRunner

from provision.bundle import checksums
from provision.bundle.checksums import MissingChecksum
from provision.bundle.fetch import ChecksumMismatch, Fetch, FetchError, plan
from provision.bundle.manifest import read_manifest, staging, verify
from provision.cli import cli
from provision.config.model import SHA256, ClusterConfig
from provision.errors import BundleError
from provision.runlog import RunLog
from tests.conftest import LAB

K8S = "1.35.4"
CALICO = "3.28.5"
ARCH = "amd64"
FILES = {
    f"/release/v{K8S}/bin/linux/{ARCH}/kubeadm": b"#!/bin/sh\necho kubeadm v1.35.4\n",
    f"/release/v{K8S}/bin/linux/{ARCH}/kubelet": b"#!/bin/sh\necho kubelet v1.35.4\n" * 50,
    f"/release/v{K8S}/bin/linux/{ARCH}/kubectl": b"#!/bin/sh\necho kubectl v1.35.4\n",
    f"/calico/v{CALICO}/manifests/calico.yaml": b"kind: DaemonSet\nmetadata: {name: calico-node}\n",
}
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def path_of(name: str) -> str:
    return next(p for p in FILES if p.endswith(f"/{name}"))


NAMES = ("kubeadm", "kubelet", "kubectl", "calico.yaml")
PINS = {name: sha(FILES[path_of(name)]) for name in NAMES}


class Upstream:
    """A local release server: `files` by path; `fail[path]` lists what the next requests
    of that path get instead (an HTTP status, or "truncate": half the body, then close)."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.fail: dict[str, list] = {}
        self.requests: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                upstream.requests.append(self.path)
                queued = upstream.fail.get(self.path)
                what = queued.pop(0) if queued else None
                body = upstream.files.get(self.path)
                if isinstance(what, int):
                    self.send_error(what)
                    return
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if what == "truncate" else body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def count(self, name: str) -> int:
        return self.requests.count(path_of(name))


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Tests talk to 127.0.0.1 only, never through a proxy from the environment."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def upstream():
    server = Upstream(FILES)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def lab_data(tmp_path, upstream: Upstream, checksums: dict | None = None) -> dict:
    data = yaml.safe_load(LAB.read_text())
    data["versions"].update(kubernetes=K8S, calico=CALICO)
    data["artifacts"] = {
        "source": "auto",
        "bundle_dir": str(tmp_path / "cache" / "bundle"),
        "release_url": f"{upstream.url}/release",
        "calico_url": f"{upstream.url}/calico/",
        "checksums": PINS if checksums is None else checksums,
    }
    return data


def config(tmp_path, upstream: Upstream, checksums: dict | None = None) -> ClusterConfig:
    return ClusterConfig.model_validate(lab_data(tmp_path, upstream, checksums))


def fetch(cfg: ClusterConfig, tmp_path, sleeps: list | None = None, **kw) -> Fetch:
    log = RunLog(tmp_path / "state", "bundle-fetch")
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return Fetch(cfg, log, ARCH, sleep=sleep, **kw)


def leftovers(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name != "bundle")


# --- success ----------------------------------------------------------------------------


def test_fetch_writes_a_bundle_in_the_build_format(tmp_path, upstream):
    cfg = config(tmp_path, upstream)
    artifacts = fetch(cfg, tmp_path).run()
    bundle = tmp_path / "cache" / "bundle"
    manifest = read_manifest(bundle, K8S)
    verify(bundle, manifest)
    assert manifest == sorted(artifacts, key=lambda a: a.path)
    assert {(a.name, a.kind, a.path, a.version) for a in manifest} == {
        ("kubeadm", "binary", "bin/kubeadm", K8S),
        ("kubelet", "binary", "bin/kubelet", K8S),
        ("kubectl", "binary", "bin/kubectl", K8S),
        ("calico", "manifest", "manifests/calico.yaml", f"v{CALICO}"),
    }
    for name in ("kubeadm", "kubelet", "kubectl"):
        assert (bundle / "bin" / name).read_bytes() == FILES[path_of(name)]
        assert os.access(bundle / "bin" / name, os.X_OK)
    assert (bundle / "manifests" / "calico.yaml").read_bytes() == FILES[path_of("calico.yaml")]
    assert sorted(p.name for p in bundle.iterdir()) == ["bin", "manifest.json", "manifests"]
    assert not list(bundle.rglob("*.part"))
    assert leftovers(tmp_path) == []


def test_fetched_bundle_replaces_the_previous_one(tmp_path, upstream):
    bundle = tmp_path / "cache" / "bundle"
    (bundle / "images").mkdir(parents=True)
    (bundle / "images" / "old.tar").write_bytes(b"old")
    # a bundle of ours (only those are replaced: test_bundle_guard.py)
    (bundle / "manifest.json").write_text('{"format": 1, "kubernetes": "0.0.0", "artifacts": []}')
    fetch(config(tmp_path, upstream), tmp_path).run()
    assert not (bundle / "images").exists()
    verify(bundle, read_manifest(bundle, K8S))
    assert leftovers(tmp_path) == []


def test_pins_from_the_table(tmp_path, upstream, monkeypatch):
    monkeypatch.setattr(
        checksums,
        "KUBERNETES",
        {K8S: {ARCH: {n: PINS[n] for n in ("kubeadm", "kubelet", "kubectl")}}},
    )
    monkeypatch.setattr(checksums, "CALICO", {CALICO: {"calico.yaml": PINS["calico.yaml"]}})
    cfg = config(tmp_path, upstream, checksums={})
    assert {d.pinned_by for d in plan(cfg, ARCH)} == {
        "KUBERNETES in provision/bundle/checksums.py",
        "CALICO in provision/bundle/checksums.py",
    }
    fetch(cfg, tmp_path).run()
    verify(tmp_path / "cache" / "bundle", read_manifest(tmp_path / "cache" / "bundle", K8S))


def test_config_checksum_overrides_the_table(tmp_path, upstream, monkeypatch):
    monkeypatch.setattr(checksums, "KUBERNETES", {K8S: {ARCH: {"kubeadm": "0" * 64}}})
    cfg = config(tmp_path, upstream)
    pinned = {d.name: (d.sha256, d.pinned_by) for d in plan(cfg, ARCH)}
    assert pinned["kubeadm"] == (PINS["kubeadm"], "artifacts.checksums.kubeadm")
    fetch(cfg, tmp_path).run()


def test_urls_follow_the_upstream_layout(tmp_path, upstream):
    urls = {d.name: d.url for d in plan(config(tmp_path, upstream), ARCH)}
    assert urls == {
        "kubeadm": f"{upstream.url}/release/v{K8S}/bin/linux/{ARCH}/kubeadm",
        "kubelet": f"{upstream.url}/release/v{K8S}/bin/linux/{ARCH}/kubelet",
        "kubectl": f"{upstream.url}/release/v{K8S}/bin/linux/{ARCH}/kubectl",
        "calico": f"{upstream.url}/calico/v{CALICO}/manifests/calico.yaml",
    }


def test_defaults_point_at_upstream():
    data = yaml.safe_load(LAB.read_text())
    art = ClusterConfig.model_validate(data).artifacts
    assert art.release_url == "https://dl.k8s.io/release"
    assert art.calico_url == "https://raw.githubusercontent.com/projectcalico/calico"
    assert art.checksums == {}


# --- failures ---------------------------------------------------------------------------


def test_tampered_file_is_refused_and_nothing_is_left(tmp_path, upstream):
    tampered = FILES[path_of("kubelet")] + b"echo owned\n"
    upstream.files[path_of("kubelet")] = tampered
    with pytest.raises(ChecksumMismatch) as e:
        fetch(config(tmp_path, upstream), tmp_path).run()
    message = str(e.value)
    assert message.startswith("kubelet: ")
    assert f"expected {PINS['kubelet']} (artifacts.checksums.kubelet)" in message
    assert f"got      {sha(tampered)}" in message
    assert path_of("kubelet") in message and "fix: " in message
    assert isinstance(e.value, BundleError) and e.value.exit_code == 6
    assert upstream.count("kubelet") == 1, "a checksum mismatch must not be retried"
    assert not (tmp_path / "cache" / "bundle").exists()
    assert leftovers(tmp_path) == []


def test_failure_keeps_the_previous_bundle(tmp_path, upstream):
    bundle = tmp_path / "cache" / "bundle"
    bundle.mkdir(parents=True)
    previous = '{"format": 1, "kubernetes": "0.0.0", "artifacts": [], "previous": true}'
    (bundle / "manifest.json").write_text(previous)
    upstream.files[path_of("calico.yaml")] = b"something else"
    with pytest.raises(ChecksumMismatch, match="calico: "):
        fetch(config(tmp_path, upstream), tmp_path).run()
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json"]
    assert (bundle / "manifest.json").read_text() == previous
    assert leftovers(tmp_path) == []


def test_not_found_is_a_clear_error_without_retries(tmp_path, upstream):
    del upstream.files[path_of("kubectl")]
    sleeps: list[float] = []
    with pytest.raises(FetchError) as e:
        fetch(config(tmp_path, upstream), tmp_path, sleeps).run()
    message = str(e.value)
    assert f"{upstream.url}{path_of('kubectl')}: HTTP 404" in message
    assert "artifacts.release_url" in message and "fix: " in message
    assert upstream.count("kubectl") == 1 and sleeps == []
    assert not (tmp_path / "cache" / "bundle").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "failures"),
    [
        ("kubeadm", [503]),
        ("kubelet", [503, 502]),
        ("kubectl", [429]),
        ("calico.yaml", [500]),
        ("kubelet", ["truncate"]),
    ],
    ids=["503-then-200", "503-502-then-200", "429-then-200", "calico-500", "cut-off-body"],
)
def test_transient_failures_are_retried_with_backoff(tmp_path, upstream, name, failures):
    upstream.fail[path_of(name)] = list(failures)
    sleeps: list[float] = []
    fetch(config(tmp_path, upstream), tmp_path, sleeps, backoff=0.5).run()
    assert upstream.count(name) == len(failures) + 1
    assert sleeps == [0.5 * 2**i for i in range(len(failures))]
    bundle = tmp_path / "cache" / "bundle"
    verify(bundle, read_manifest(bundle, K8S))
    assert leftovers(tmp_path) == []


def test_persistent_server_errors_give_up(tmp_path, upstream):
    upstream.fail[path_of("kubeadm")] = [503] * 10
    with pytest.raises(FetchError) as e:
        fetch(config(tmp_path, upstream), tmp_path, attempts=3).run()
    assert "kubeadm: cannot download" in str(e.value) and "HTTP 503" in str(e.value)
    assert "(3 attempts)" in str(e.value) and "fix: " in str(e.value)
    assert upstream.count("kubeadm") == 3
    assert not (tmp_path / "cache" / "bundle").exists()
    assert leftovers(tmp_path) == []


def test_connection_refused_is_retried_then_reported(tmp_path, upstream):
    data = lab_data(tmp_path, upstream)
    upstream.server.shutdown()
    upstream.server.server_close()  # nothing listens on that port any more
    sleeps: list[float] = []
    with pytest.raises(FetchError, match=r"kubeadm: cannot download .*refused") as e:
        fetch(ClusterConfig.model_validate(data), tmp_path, sleeps, attempts=2).run()
    assert "proxy" in str(e.value)
    assert len(sleeps) == 1
    assert leftovers(tmp_path) == []


def test_missing_pin_names_the_table_and_the_fix(tmp_path, upstream, monkeypatch):
    monkeypatch.setattr(checksums, "KUBERNETES", {})
    monkeypatch.setattr(checksums, "CALICO", {})
    cfg = config(tmp_path, upstream, checksums={"kubelet": PINS["kubelet"]})
    with pytest.raises(MissingChecksum) as e:
        fetch(cfg, tmp_path).run()
    message = str(e.value)
    assert f'KUBERNETES["{K8S}"]["{ARCH}"]["kubeadm"] is not in provision/bundle/checksums.py' in (
        message
    )
    assert "artifacts.checksums.kubeadm" in message and "artifacts.checksums.kubectl" in message
    assert f'CALICO["{CALICO}"]["calico.yaml"]' in message
    assert "kubelet" not in message  # pinned by the config
    assert f"https://dl.k8s.io/release/v{K8S}/bin/linux/{ARCH}/kubeadm.sha256" in message
    assert message.count("fix: ") == 3
    assert upstream.requests == [], "nothing is downloaded before every pin is known"
    assert not (tmp_path / "cache").exists()


# --- CLI --------------------------------------------------------------------------------


def test_cli_prints_each_verified_artifact(tmp_path, upstream, write_config, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    path = write_config(lab_data(tmp_path, upstream))
    result = CliRunner().invoke(cli, ["bundle", "fetch", "-i", str(path), "--arch", ARCH])
    assert result.exit_code == 0, result.output
    for p, name in (
        ("bin/kubeadm", "kubeadm"),
        ("bin/kubelet", "kubelet"),
        ("bin/kubectl", "kubectl"),
        ("manifests/calico.yaml", "calico.yaml"),
    ):
        assert f"{p}: sha256 {PINS[name]} verified" in result.output
    assert "bundle fetched: 4 artifacts verified" in result.output
    (state,) = (tmp_path / "xdg-state" / "provision").glob("inv-*")
    runs = state / "runs"
    assert "bundle fetched" in (runs / "latest" / "run.log").read_text()


def test_cli_reports_a_missing_pin_with_exit_6(tmp_path, upstream, write_config, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setattr(checksums, "KUBERNETES", {})
    data = lab_data(tmp_path, upstream, checksums={"calico.yaml": PINS["calico.yaml"]})
    result = CliRunner().invoke(cli, ["bundle", "fetch", "-i", str(write_config(data))])
    assert result.exit_code == 6, result.output
    assert "no pinned sha256 for kubeadm" in result.output and "fix: " in result.output


# --- the table --------------------------------------------------------


def test_every_pinned_checksum_is_a_sha256():
    for version, arches in checksums.KUBERNETES.items():
        for arch, names in arches.items():
            assert set(names) == {"kubeadm", "kubelet", "kubectl"}, (version, arch)
            assert all(SHA256.fullmatch(v) for v in names.values()), (version, arch)
    for version, names in checksums.CALICO.items():
        assert all(SHA256.fullmatch(v) for v in names.values()), version


def test_staging_removes_what_a_killed_run_left_and_runs_one_at_a_time(tmp_path):
    bundle = tmp_path / "bundle"
    left = tmp_path / ".bundle-build-killed"
    (left / "work").mkdir(parents=True)
    said = []
    with pytest.raises(RuntimeError), staging(bundle, "fetch", said.append) as stage:
        assert not left.exists() and f"{left}" in said[0]
        assert stage.name.startswith(".bundle-fetch-")
        with (
            pytest.raises(BundleError, match="another bundle build or fetch"),
            staging(bundle, "build", said.append),
        ):
            pass
        raise RuntimeError("the run fails")
    assert list(tmp_path.iterdir()) == []  # its own staging directory is gone too
