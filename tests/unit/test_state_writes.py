"""How provision writes its state: whole or not at all, never through a link, 0600;
and a state directory someone else could write to is refused before any write."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

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


# -- the rebuild's report and history: written whole, never through a link ----------


def _report():
    from tests.unit.test_report import report

    return report()


def test_the_history_is_rewritten_whole_through_no_planted_link(tmp_path):
    from provision.report.write import write_report

    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    for planted in (".history.jsonl.tmp", "history.html", ".history.html.tmp"):
        (reports / planted).symlink_to(target)
    write_report(_report(), reports, "run-1")
    write_report(_report(), reports, "run-2")
    assert target.read_text() == "keep me\n"
    lines = (reports / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["report"] for line in lines] == ["run-1", "run-2"]
    for name in ("history.jsonl", "history.html", "run-2/report.json", "run-2/junit.xml"):
        info = os.lstat(reports / name)
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600, name
    assert not list(reports.glob(".*.tmp"))


def test_a_symlinked_history_is_refused_and_its_target_left_alone(tmp_path):
    from provision.report.write import write_report

    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "history.jsonl").symlink_to(target)
    with pytest.raises(UsageError, match="symlink"):
        write_report(_report(), reports, "run-1")
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize("where", ["reports", "report"])
def test_a_symlinked_report_directory_is_refused(tmp_path, where):
    from provision.report.write import write_report

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    reports = tmp_path / "reports"
    if where == "reports":
        reports.symlink_to(elsewhere)
    else:
        reports.mkdir()
        (reports / "run-1").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="it is a symlink") as e:
        write_report(_report(), reports, "run-1")
    assert e.value.exit_code == 2 and "fix: remove it" in str(e.value)
    assert list(elsewhere.iterdir()) == []


def test_the_history_keeps_the_newest_lines_it_can_read_again(tmp_path, monkeypatch):
    import provision.report.write as write

    reports = tmp_path / "reports"
    write.write_report(_report(), reports, "run-0")
    line = len((reports / "history.jsonl").read_bytes())
    monkeypatch.setattr(write, "MAX_HISTORY", 3 * line + 10)
    for n in range(1, 6):
        write.write_report(_report(), reports, f"run-{n}")
    assert [e["report"] for e in write.read_history(reports / "history.jsonl")] == [
        "run-3",
        "run-4",
        "run-5",
    ]
    chart = (reports / "history.html").read_text()
    assert [f'href="run-{n}/report.json"' in chart for n in range(6)] == [False] * 3 + [True] * 3


def test_rendered_files_are_written_through_no_link(tmp_path, lab):
    """`render --out` replaces a link planted at one of its files, never writes
    through it, and refuses a linked add-ons directory."""
    from provision.config.load import load_text
    from provision.render import render_all

    config = load_text(yaml.safe_dump(lab), "cluster.yml")
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "hosts.yml").symlink_to(target)
    written = render_all(config, "docker", out, source="cluster.yml")
    assert target.read_text() == "keep me\n"
    assert all(stat.S_ISREG(os.lstat(p).st_mode) for p in written)
    (tmp_path / "out2").mkdir()
    (tmp_path / "out2" / "addons").symlink_to(tmp_path / "elsewhere-dir")
    (tmp_path / "elsewhere-dir").mkdir()
    with pytest.raises(UsageError, match="symlink"):
        render_all(config, "docker", tmp_path / "out2", source="cluster.yml")
    assert list((tmp_path / "elsewhere-dir").iterdir()) == []
