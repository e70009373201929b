"""How provision writes its state: whole or not at all, never through a link, 0600;
and a state directory someone else could write to is refused before any write."""

from __future__ import annotations

import os
import stat

import pytest

from provision.errors import UsageError
from provision.files import write_state
from provision.inventory import read_endpoints
from provision.phase_state import PhaseState
from provision.project import resolve_inventory
from tests.conftest import provision


def test_a_symlink_planted_at_a_state_file_is_replaced_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    path = tmp_path / "phases.json"
    path.symlink_to(target)
    write_state(path, "{}\n")
    assert target.read_text() == "keep me\n"
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert path.read_text() == "{}\n"


def test_the_phase_record_is_written_whole_through_no_planted_temp_link(tmp_path):
    cluster = tmp_path / "cluster.yml"
    cluster.write_text("x: 1\n")
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    (tmp_path / ".phases.json.tmp").symlink_to(target)
    state = PhaseState.load(tmp_path, cluster)
    state.started("machines")
    assert target.read_text() == "keep me\n"
    assert '"machines"' in (tmp_path / "phases.json").read_text()


def test_a_state_dir_others_can_write_to_is_refused_before_any_write(
    lab, write_config, tmp_path, monkeypatch
):
    config = write_config(lab)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    env = {**os.environ}
    state_dir = resolve_inventory(str(config)).state_dir
    state_dir.mkdir(parents=True)
    state_dir.chmod(0o777)
    out = provision("node", "reset", "w1", "-i", str(config), env=env, check=False)
    assert out.returncode == 2, out
    assert "can be written by others" in out.stderr and "chmod go-w" in out.stderr
    assert list(state_dir.iterdir()) == []


def test_status_of_a_lab_never_made_writes_no_state(lab, write_config, tmp_path, monkeypatch):
    """Read-only: `status` asks no Vagrant for a lab with no machines and writes nothing
    (no state directory, no key, no machines.json)."""
    config = write_config(lab)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    out = provision("status", "--json", "-i", str(config), check=False)
    assert out.returncode == 0, out
    assert '"not_created"' in out.stdout
    assert not (tmp_path / "state").exists(), sorted((tmp_path / "state").rglob("*"))


def test_relative_xdg_dirs_are_ignored_as_the_spec_says(lab, write_config, tmp_path, monkeypatch):
    config = write_config(lab)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    inv = resolve_inventory(str(config))
    assert inv.state_dir.parent == tmp_path / "home" / ".local" / "state" / "provision"
    assert inv.cache_dir == tmp_path / "home" / ".cache" / "provision"


@pytest.mark.parametrize(
    "make",
    [
        lambda p: os.mkfifo(p),
        lambda p: p.write_text("- just\n- a list\n"),
        lambda p: p.write_bytes(b"\xff\xfe not utf-8"),
        lambda p: p.write_text(
            "all: {children: {k8s_cluster: {children: {g: {hosts: {cp1: 3}}}}}}"
        ),
    ],
    ids=["fifo", "a-list", "not-utf8", "wrong-host-type"],
)
def test_a_generated_inventory_not_of_provisions_shape_is_refused(tmp_path, make):
    path = tmp_path / "hosts.yml"
    make(path)
    with pytest.raises(UsageError, match="the generated inventory") as e:
        read_endpoints(path)
    assert e.value.exit_code == 2 and "fix:" in str(e.value)


def test_no_generated_inventory_is_none(tmp_path):
    assert read_endpoints(tmp_path / "hosts.yml") is None
