"""Two labs never share state by accident: state is keyed by the inventory folder's
path, and two labs whose machines would carry the same names are refused."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from provision.cli import cli
from provision.errors import UsageError
from provision.project import resolve_inventory
from tests.conftest import LAB


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "provision"


def checkout(tmp_path, where: str):
    """A copy of the default inventory in a folder named lab, as another checkout has."""
    inv = tmp_path / where / "inventories" / "lab"
    inv.mkdir(parents=True)
    shutil.copy(LAB, inv / "cluster.yml")
    return resolve_inventory(str(inv / "cluster.yml"))


def test_same_folder_name_in_two_checkouts_gets_two_state_dirs(tmp_path, state_home):
    a, b = checkout(tmp_path, "one"), checkout(tmp_path, "two")
    assert a.name == b.name == "lab"
    assert a.state_dir != b.state_dir
    assert a.state_dir.parent == b.state_dir.parent == state_home
    assert a.state_dir.name.startswith("lab-")
    assert resolve_inventory(str(a.cluster_file)).state_dir == a.state_dir  # stable


def test_same_cluster_name_is_refused_while_the_other_lab_exists(tmp_path, state_home):
    a, b = checkout(tmp_path, "one"), checkout(tmp_path, "two")
    a.claim_state("lab", makes_machines=True)
    with pytest.raises(UsageError) as e:
        b.claim_state("lab", makes_machines=True)
    assert str(a.cluster_file) in str(e.value) and "fix:" in str(e.value)
    assert not b.state_dir.exists()  # nothing half-created
    b.claim_state("lab2", makes_machines=True)  # another cluster name: fine


def test_destroy_or_a_deleted_config_releases_the_name(tmp_path, state_home):
    a, b = checkout(tmp_path, "one"), checkout(tmp_path, "two")
    a.claim_state("lab", makes_machines=True)
    a.release_state()
    b.claim_state("lab", makes_machines=True)
    b.release_state()
    a.claim_state("lab", makes_machines=True)
    a.cluster_file.unlink()
    b.claim_state("lab", makes_machines=True)
    owner = json.loads(b.owner_file.read_text())
    assert owner == {"cluster_file": str(b.cluster_file), "cluster": "lab", "makes_machines": True}


def test_existing_hosts_name_no_machines(tmp_path, state_home):
    a, b = checkout(tmp_path, "one"), checkout(tmp_path, "two")
    a.claim_state("existing", makes_machines=False)
    b.claim_state("existing", makes_machines=False)


def test_a_run_command_is_refused_before_it_opens_a_run(tmp_path, state_home):
    a, b = checkout(tmp_path, "one"), checkout(tmp_path, "two")
    a.claim_state("lab", makes_machines=True)
    result = CliRunner().invoke(cli, ["destroy", "--yes", "-i", str(b.cluster_file)])
    assert result.exit_code == 2, result.output
    assert "is already used by the lab of" in result.output
    assert not b.state_dir.exists()


def test_commands_that_change_no_lab_never_claim_its_name(tmp_path, state_home):
    """verify (and the bundle's commands) use a lab's config but change no lab: run from
    another checkout, they leave no claim that would refuse that checkout's own `up`."""
    a, b = checkout(tmp_path, "one"), checkout(tmp_path, "two")
    result = CliRunner().invoke(cli, ["verify", "-i", str(b.cluster_file)])
    assert "is already used" not in result.output
    assert not b.owner_file.exists()
    a.claim_state("lab", makes_machines=True)  # the other checkout's lab: not refused
