"""`provision bundle fetch` for real: the real CLI downloads the real bundle's binaries and
Calico manifest from a release server on 127.0.0.1 (upstream's URL layout), checked against
checksums this test computes itself, given in the config; the result is byte-identical, and
bytes that differ from a pin (a wrong pin, or a server that alters a file) are refused."""

import filecmp
import hashlib
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from provision.bundle.fetch import host_arch
from provision.config import load
from provision.sources import bundle_dir
from tests.conftest import LAB, provision

pytestmark = pytest.mark.lab

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture(scope="module")
def real_bundle() -> Path:
    bundle = bundle_dir(load(LAB))
    if not (bundle / "manifest.json").is_file():
        pytest.fail(
            f"no built bundle at {bundle}: this test serves the real one\n"
            "  fix: run `provision bundle build` first (tests/integration/test_bundle.py does, "
            "and runs before this file)"
        )
    return bundle


@pytest.fixture
def release_server(real_bundle):
    """Serves the real bundle as upstream lays it out; records every path asked for."""
    config = load(LAB)
    kubernetes, calico, arch = config.versions.kubernetes, config.versions.calico, host_arch()
    routes = {
        f"/release/v{kubernetes}/bin/linux/{arch}/{name}": real_bundle / "bin" / name
        for name in ("kubeadm", "kubelet", "kubectl")
    }
    routes[f"/calico/v{calico}/manifests/calico.yaml"] = real_bundle / "manifests" / "calico.yaml"
    asked: list[str] = []
    tampered: set[str] = set()  # names whose first byte the server flips

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            file = routes.get(self.path)
            if file is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(file.stat().st_size))
            self.end_headers()
            with file.open("rb") as f:
                if file.name in tampered:
                    self.wfile.write(bytes([f.read(1)[0] ^ 0xFF]))
                shutil.copyfileobj(f, self.wfile, 1 << 20)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", asked, set(routes), tampered
    server.shutdown()
    server.server_close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fetch_config(tmp_path, real_bundle, release_server, monkeypatch):
    """A copy of the lab config that fetches from the local server into tmp_path, pinned to
    the real bundle's checksums; run state under tmp_path, no proxy."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    url = release_server[0]
    # The pins are this test's own sha256 of the bytes, not the bundle manifest's.
    pins = {
        name: sha256(real_bundle / where / name)
        for where, name in (
            ("bin", "kubeadm"),
            ("bin", "kubelet"),
            ("bin", "kubectl"),
            ("manifests", "calico.yaml"),
        )
    }
    data = yaml.safe_load(LAB.read_text())
    data["artifacts"].update(
        bundle_dir=str(tmp_path / "cache" / "bundle"),
        release_url=f"{url}/release",
        calico_url=f"{url}/calico",
        checksums=pins,
    )
    path = tmp_path / "fetch-lab" / "cluster.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_fetch_reproduces_the_real_bundle_byte_for_byte(
    tmp_path, real_bundle, release_server, fetch_config
):
    _, asked, routes, _ = release_server
    out = provision("bundle", "fetch", "-i", str(fetch_config))
    for path in ("bin/kubeadm", "bin/kubelet", "bin/kubectl", "manifests/calico.yaml"):
        assert f"{path}: sha256 " in out.stdout and " verified (" in out.stdout, out.stdout
    assert "bundle fetched: 4 artifacts verified" in out.stdout
    assert set(asked) == routes

    fetched = tmp_path / "cache" / "bundle"
    for path in ("bin/kubeadm", "bin/kubelet", "bin/kubectl", "manifests/calico.yaml"):
        assert filecmp.cmp(real_bundle / path, fetched / path, shallow=False), path
        assert sha256(fetched / path) == sha256(real_bundle / path)
    real_manifest = json.loads((real_bundle / "manifest.json").read_text())
    real = {a["path"]: a for a in real_manifest["artifacts"]}
    got = json.loads((fetched / "manifest.json").read_text())
    assert got["format"] == 1 and got["kubernetes"] == load(LAB).versions.kubernetes
    assert {a["path"]: a for a in got["artifacts"]} == {
        p: real[p] for p in ("bin/kubeadm", "bin/kubelet", "bin/kubectl", "manifests/calico.yaml")
    }
    assert not [p.name for p in fetched.parent.iterdir() if p.name != "bundle"], "staging left"

    check = provision("bundle", "check", "-i", str(fetch_config))
    assert "bundle OK: 4 artifacts match the manifest" in check.stdout
    version = subprocess.run(
        [str(fetched / "bin" / "kubeadm"), "version", "-o", "short"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == f"v{load(LAB).versions.kubernetes}"


def test_fetch_refuses_a_wrong_pin_and_keeps_nothing(tmp_path, fetch_config):
    data = yaml.safe_load(fetch_config.read_text())
    right = data["artifacts"]["checksums"]["kubelet"]
    wrong = ("0" if right[0] != "0" else "1") + right[1:]
    data["artifacts"]["checksums"]["kubelet"] = wrong
    fetch_config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = provision("bundle", "fetch", "-i", str(fetch_config), check=False)
    assert out.returncode == 6, out.stdout + out.stderr
    assert f"expected {wrong} (artifacts.checksums.kubelet)" in out.stderr
    assert f"got      {right}" in out.stderr and "fix: " in out.stderr
    assert not (tmp_path / "cache" / "bundle").exists()
    assert list((tmp_path / "cache").iterdir()) == [], "staging left"


def test_fetch_refuses_bytes_that_differ_from_the_pin(tmp_path, release_server, fetch_config):
    """The server sends kubelet with its first byte flipped; the pin is right."""
    release_server[3].add("kubelet")
    pinned = yaml.safe_load(fetch_config.read_text())["artifacts"]["checksums"]["kubelet"]
    out = provision("bundle", "fetch", "-i", str(fetch_config), check=False)
    assert out.returncode == 6, out.stdout + out.stderr
    assert f"expected {pinned} (artifacts.checksums.kubelet)" in out.stderr
    assert "got      " in out.stderr and f"got      {pinned}" not in out.stderr
    assert not (tmp_path / "cache" / "bundle").exists()
    assert list((tmp_path / "cache").iterdir()) == [], "staging left"
