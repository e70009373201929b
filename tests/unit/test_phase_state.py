"""The record of completed phases, and where `up` resumes."""

import json

from provision.phase_state import PhaseState

ORDER = ("machines", "prepare", "runtime", "join")


def state(tmp_path, text="cluster: {name: lab}\n") -> PhaseState:
    cluster = tmp_path / "cluster.yml"
    cluster.write_text(text)
    return PhaseState.load(tmp_path, cluster)


def test_nothing_recorded_means_a_full_run(tmp_path):
    assert state(tmp_path).resume_point(ORDER) is None


def test_resumes_at_the_first_phase_not_done(tmp_path):
    s = state(tmp_path)
    s.begin_run("run-1", keep=[])
    for phase in ("machines", "prepare"):
        s.started(phase)
        s.finished(phase, 1.0)
    s.started("runtime")
    s.finished("runtime", 2.0, error="playbook runtime.yml failed (rc 2)\nmore")
    again = state(tmp_path)
    assert again.resume_point(ORDER) == "runtime"
    data = json.loads((tmp_path / "phases.json").read_text())
    assert data["phases"]["runtime"]["status"] == "failed"
    assert data["phases"]["runtime"]["error"] == "playbook runtime.yml failed (rc 2)"
    assert data["run"] == "run-1"


def test_an_interrupted_phase_is_not_done(tmp_path):
    s = state(tmp_path)
    s.begin_run("run-1", keep=[])
    s.started("machines")
    s.finished("machines", 1.0)
    s.started("prepare")  # killed here: no finished()
    assert state(tmp_path).resume_point(ORDER) == "prepare"


def test_a_finished_run_means_a_full_run_next(tmp_path):
    s = state(tmp_path)
    s.begin_run("run-1", keep=[])
    for phase in ORDER:
        s.started(phase)
        s.finished(phase, 1.0)
    assert state(tmp_path).resume_point(ORDER) is None


def test_a_changed_config_forgets_the_record(tmp_path):
    s = state(tmp_path)
    s.begin_run("run-1", keep=[])
    s.started("machines")
    s.finished("machines", 1.0)
    assert state(tmp_path, "cluster: {name: other}\n").resume_point(ORDER) is None


def test_a_new_run_keeps_only_the_phases_it_skips(tmp_path):
    s = state(tmp_path)
    s.begin_run("run-1", keep=[])
    for phase in ("machines", "prepare"):
        s.started(phase)
        s.finished(phase, 1.0)
    s.begin_run("run-2", keep=["prepare"])
    assert set(s.entries) == {"prepare"}
