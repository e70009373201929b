"""The one Vagrantfile accepts the machines.json of each provider (`vagrant validate`).

machines.json is written the way `provision up` writes it (VagrantMachines.write_spec).
VirtualBox cannot run on this host: a stand-in VBoxManage that answers `--version`
only (fixtures/VBoxManage) lets Vagrant load its provider, so this checks the
Vagrantfile's VirtualBox side and nothing more. libvirt needs the vagrant-libvirt
plugin (scripts/host-setup-libvirt).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from provision.config import load
from provision.machines.providers import provider_class
from provision.machines.vagrant import VagrantMachines
from provision.project import Inventory
from provision.runlog import RunLog
from tests.conftest import LAB, ROOT

FIXTURES = Path(__file__).parent / "fixtures"
LIBVIRT_LAB = ROOT / "inventories" / "lab-libvirt" / "cluster.yml"

pytestmark = pytest.mark.vm


def machines(tmp_path, monkeypatch, provider: str, cluster_file: Path = LAB) -> VagrantMachines:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    inv = Inventory(cluster_file.parent.name, cluster_file.parent, ROOT, cluster_file)
    m = provider_class(provider)(inv, load(cluster_file), RunLog(inv.state_dir, "test"))
    assert isinstance(m, VagrantMachines)
    m.write_spec()
    return m


def validate(m: VagrantMachines, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    env = m.env()
    if path_prefix:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    return subprocess.run(
        ["vagrant", "validate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(autouse=True)
def _vagrant():
    if shutil.which("vagrant") is None:
        pytest.skip("vagrant is not installed (scripts/host-setup)")


def test_virtualbox_render_validates(tmp_path, monkeypatch):
    m = machines(tmp_path, monkeypatch, "virtualbox")
    spec = json.loads(m.spec_path.read_text())
    assert spec["netmask"] == "255.255.255.0"
    out = validate(m, FIXTURES)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Vagrantfile validated successfully" in out.stdout


def test_libvirt_render_validates(tmp_path, monkeypatch):
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True)
    if "vagrant-libvirt" not in plugins.stdout:
        pytest.skip("the vagrant-libvirt plugin is not installed (scripts/host-setup-libvirt)")
    m = machines(tmp_path, monkeypatch, "libvirt", LIBVIRT_LAB)
    spec = json.loads(m.spec_path.read_text())
    assert spec["libvirt"]["default_prefix"] == f"{spec['cluster']}-"
    assert spec["libvirt"]["driver"] in ("kvm", "qemu")
    out = validate(m)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Vagrantfile validated successfully" in out.stdout


def test_docker_render_validates(tmp_path, monkeypatch):
    m = machines(tmp_path, monkeypatch, "docker")
    spec = json.loads(m.spec_path.read_text())
    assert spec["docker"]["image"]
    out = validate(m)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Vagrantfile validated successfully" in out.stdout
