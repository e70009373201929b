"""Which phases an `up` performs: all, --only, --from, or a resume after a failed
run (phase records in phases.json)."""

from __future__ import annotations

import pytest

from provision.cli.common import console
from provision.errors import UsageError
from provision.phases import PHASE_NAMES
from provision.project import resolve_inventory
from provision.runlog import RunLog
from provision.up import Up
from tests.conftest import as_existing_hosts

ALL = list(PHASE_NAMES)


@pytest.fixture
def make_up(lab, write_config, tmp_path, monkeypatch):
    """An Up over existing hosts (kind ssh: nothing is contacted until a phase runs)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = write_config(as_existing_hosts(lab, tmp_path))

    def make() -> Up:
        from provision.config import load

        inv = resolve_inventory(str(path))
        return Up(inv, load(path), RunLog(inv.state_dir, "up", console()))

    return make


def test_all_phases_by_default(make_up):
    assert make_up().plan(None, None) == ALL


def test_only_runs_the_named_phases_in_flow_order(make_up):
    assert make_up().plan(["join", "machines"], None) == ["machines", "join"]


@pytest.mark.parametrize("only", [["machine"], ["prepare", "bogus"]])
def test_an_unknown_phase_is_refused_with_the_list(make_up, only):
    with pytest.raises(UsageError, match="fix: use phases from: machines, prepare"):
        make_up().plan(only, None)


def test_from_starts_there(make_up):
    assert make_up().plan(None, "network") == ALL[ALL.index("network") :]
    with pytest.raises(UsageError, match="unknown phase nope"):
        make_up().plan(None, "nope")


def test_a_failed_run_resumes_at_its_phase_after_rechecking_machines(make_up):
    up = make_up()
    up.state.begin_run("run-1", keep=[])
    for name in ALL[: ALL.index("control-plane")]:
        up.state.started(name)
        up.state.finished(name, 1.0)
    up.state.started("control-plane")
    up.state.finished("control-plane", 2.0, "kubeadm init failed")
    again = make_up()  # a new run reads phases.json
    assert again.plan(None, None) == ["machines", *ALL[ALL.index("control-plane") :]]
    assert again.plan(None, "machines") == ALL  # --from the first phase runs every phase
    assert again.plan(["verify"], None) == ["verify"]  # --only ignores the resume point


def test_a_finished_run_starts_over(make_up):
    up = make_up()
    up.state.begin_run("run-1", keep=[])
    for name in ALL:
        up.state.started(name)
        up.state.finished(name, 1.0)
    assert make_up().plan(None, None) == ALL


def test_a_changed_config_starts_over(make_up, lab, write_config):
    up = make_up()
    up.state.begin_run("run-1", keep=[])
    up.state.started("machines")
    up.state.finished("machines", 1.0)
    up.state.started("prepare")
    up.state.finished("prepare", 1.0, "failed")
    lab["addons"]["zipkin"]["enabled"] = not lab["addons"]["zipkin"]["enabled"]
    write_config(lab)
    assert make_up().plan(None, None) == ALL
