"""One module per phase, the pipeline one list: each phase runs a playbook that
exists or runs itself, and the facts the convergence stamps need come from it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from provision.errors import UsageError
from provision.node_ops import CP_PREPARE, CP_REST, REJOIN
from provision.phases import BY_PLAYBOOK, PHASE_NAMES, PHASES, chosen, phase
from provision.phases.base import Phase
from provision.playbooks.converged import UNITS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("p", PHASES, ids=PHASE_NAMES)
def test_each_phase_is_its_own_module(p):
    module = importlib.import_module(type(p).__module__)
    assert module.__name__ == f"provision.phases.{p.name.replace('-', '_')}"
    assert p.summary and p.changes.__func__ is not Phase.changes  # type: ignore[attr-defined]


@pytest.mark.parametrize("p", PHASES, ids=PHASE_NAMES)
def test_each_phase_runs_a_playbook_that_exists_or_runs_itself(p):
    if p.playbook:
        assert (ROOT / "playbooks" / p.playbook).is_file()
    else:
        assert type(p).run is not Phase.run, f"{p.name} runs no playbook and has no run()"


def test_stamp_facts_come_from_the_phases():
    assert set(BY_PLAYBOOK) == {p.playbook for p in PHASES if p.playbook}
    assert {u for p in PHASES for u in p.starts} <= set(UNITS)
    assert [p.name for p in PHASES if p.node_local] == ["prepare", "runtime", "kubernetes"]


def test_operations_choose_parts_of_the_pipeline_in_its_order():
    for part in (REJOIN, CP_PREPARE, CP_REST):
        assert list(part) == [n for n in PHASE_NAMES if n in part]
    assert chosen(["join", "machines"]) == ("machines", "join")
    with pytest.raises(UsageError, match="unknown phase nope"):
        chosen(["nope"])
    with pytest.raises(UsageError, match="fix: use phases from: machines, prepare"):
        phase("bogus")
