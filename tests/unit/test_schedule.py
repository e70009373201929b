"""`provision schedule`: the timer and service it writes pass the real `systemd-analyze
verify` in both scopes (its quoting too); bad --at and --notify are refused (a
password never echoed); a unit file that is not this lab's, or a link, is never
written through or removed; with no systemd manager the real CLI prints the exact
commands and exits 0; `provision status` shows the next run and the last verdict,
reading only.

No test reaches a real systemd manager: systemctl is a fake on PATH (it logs what it
is asked), except in the subprocess case, which runs the real one with no user bus
to reach (XDG_RUNTIME_DIR an empty folder), as in a container or CI."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from provision.cli import cli
from provision.cli.status import print_schedule
from provision.config import load
from provision.project import resolve_inventory
from provision.schedule import (
    MARK,
    Schedule,
    Scope,
    identity,
    install,
    next_run_at,
    remove,
    render,
    schedule_status,
    unit_names,
    user_scope,
)
from tests.conftest import CLI, LAB, ROOT

ANALYZE = shutil.which("systemd-analyze")

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
if [ "$FAKE_SYSTEMD" != running ]; then
    echo offline
    echo "Failed to connect to bus: No medium found" >&2
    exit 1
fi
case "$*" in
    *is-system-running*) echo running ;;
    *show*) printf 'LoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n'
            printf 'NextElapseUSecRealtime=Thu 2026-12-03 02:33:14 UTC\\n' ;;
esac
exit 0
"""


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """XDG folders of the test's own, a fake systemctl first on PATH (offline unless
    FAKE_SYSTEMD=running), no user bus to reach."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "systemctl").write_text(FAKE_SYSTEMCTL)
    (fake / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_SYSTEMCTL_LOG", str(tmp_path / "systemctl.log"))
    monkeypatch.setenv("FAKE_SYSTEMD", "offline")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PROVISION_ROOT", str(ROOT))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    return dict(os.environ)


def systemctl_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "systemctl.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def inv(env):
    return resolve_inventory(str(LAB))


@pytest.fixture
def cluster() -> str:
    return load(LAB).cluster.name


def run(*args: str):
    return CliRunner().invoke(cli, ["schedule", *args, "-i", str(LAB)])


def analyze(paths: list[Path], user: bool, tmp_path: Path) -> subprocess.CompletedProcess:
    if ANALYZE is None:
        pytest.skip("no systemd-analyze on this host")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(
        [ANALYZE, *(["--user"] if user else []), "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        check=False,
        timeout=60,
    )


def write_units(units, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in units.files():
        (folder / name).write_text(text)
        paths.append(folder / name)
    return paths


@pytest.mark.parametrize("scope", ["user", "system"])
def test_the_units_of_both_scopes_pass_systemd_analyze_verify(scope, inv, cluster, tmp_path):
    units = render(
        inv,
        cluster,
        Schedule(2, 30, restore_drill=True),
        Scope(scope, tmp_path / "units"),
        [str(CLI)],
    )
    paths = write_units(units, tmp_path / "units")
    out = analyze(paths, scope == "user", tmp_path)
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    service, timer = units.service_text, units.timer_text
    assert units.service == f"provision-rebuild-{inv.state_dir.name}.service"
    assert units.timer == f"provision-rebuild-{inv.state_dir.name}.timer"
    assert f"ExecStart={CLI} rebuild -i {LAB} --wait --restore-drill\n" in service
    assert f"WorkingDirectory={ROOT}\n" in service
    assert f'Environment="XDG_STATE_HOME={os.environ["XDG_STATE_HOME"]}"\n' in service
    assert "TimeoutStartSec=3h\n" in service and "Type=oneshot\n" in service
    assert ("network-online.target" in service) == (scope == "system")
    assert "OnCalendar=*-*-* 02:30:00\n" in timer and "Persistent=true\n" in timer
    assert f"Unit={units.service}\n" in timer and "WantedBy=timers.target\n" in timer
    for text in (service, timer):
        assert f"{MARK}{inv.state_dir}\n" in text


def test_quoting_survives_systemd(inv, cluster, tmp_path):
    """A provision path with a space, `%` and `$`, a URL with percent-encoding: systemd
    finds the executable (verify checks it), and every `%` and `$` is escaped."""
    odd = tmp_path / "a b%c$d"
    odd.mkdir()
    (odd / "provision").symlink_to(CLI)
    url = "https://hooks.example.com/a%20b?x=$HOME"
    units = render(
        inv,
        cluster,
        Schedule(23, 59, notify=url),
        Scope("user", tmp_path),
        [str(odd / "provision")],
    )
    out = analyze(write_units(units, tmp_path / "units"), True, tmp_path)
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    exec_line = next(
        line for line in units.service_text.splitlines() if line.startswith("ExecStart=")
    )
    escaped = str(odd).replace("%", "%%")
    assert exec_line.startswith(f'ExecStart="{escaped}/provision" rebuild ')
    assert exec_line.endswith('--notify "https://hooks.example.com/a%%20b?x=$$HOME"')
    # given through rebuild's variable: out of the command line; `$` is no variable there
    units = render(
        inv,
        cluster,
        Schedule(23, 59, notify=url, notify_env="PROVISION_NOTIFY_URL"),
        Scope("user", tmp_path),
        [str(CLI)],
    )
    out = analyze(write_units(units, tmp_path / "units2"), True, tmp_path)
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    text = units.service_text
    assert 'Environment="PROVISION_NOTIFY_URL=https://hooks.example.com/a%%20b?x=$HOME"\n' in text
    assert "--notify" not in text and f"ExecStart={CLI} rebuild -i {LAB} --wait\n" in text


def test_two_labs_never_share_unit_names(env, tmp_path):
    one = tmp_path / "one" / "lab" / "cluster.yml"
    two = tmp_path / "two" / "lab" / "cluster.yml"
    for path in (one, two):
        path.parent.mkdir(parents=True)
        path.write_text(LAB.read_text())
    a, b = resolve_inventory(str(one)), resolve_inventory(str(two))
    assert a.name == b.name == "lab"
    assert set(unit_names(a)).isdisjoint(unit_names(b))


@pytest.mark.parametrize("at", ["24:00", "2:30", "02:60", "0230", "", "02:30 ", "noon", "02:30:00"])
def test_a_bad_at_is_refused_naming_the_option_and_the_fix(at, env):
    result = run("--at", at)
    assert result.exit_code == 2, result.output
    assert "--at" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.output
    assert not (Path(env["XDG_CONFIG_HOME"]) / "systemd").exists()


def test_at_is_required_unless_removing(env):
    result = run()
    assert result.exit_code == 2 and "--at is missing" in result.stderr


def test_remove_takes_no_time(env):
    result = run("--remove", "--at", "02:30")
    assert result.exit_code == 2 and "--remove takes no --at" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "https://nightly:s3cret-pw@hooks.example.com/x",
        "https://nightly:s3cret-pw@evil@hooks.example.com/x",
        "https://nightly:s3cret-pw/x@hooks.example.com/",  # the password read as a port
        "ftp://nightly:s3cret-pw@hooks.example.com/x",
        "file:///etc/s3cret-pw",
        "https:///s3cret-pw",
        "https://hooks.example.com/s3cret-pw x",
        "s3cret-pw",
        "http://[s3cret-pw/",
    ],
)
def test_a_bad_notify_url_is_refused_without_echoing_it(url, env):
    result = run("--at", "02:30", "--notify", url)
    assert result.exit_code == 2, result.output
    assert "--notify" in result.stderr and "fix:" in result.stderr
    assert "s3cret" not in result.output
    assert not (Path(env["XDG_CONFIG_HOME"]) / "systemd").exists()


def test_a_good_notify_url_is_passed_to_rebuild_when_rebuild_takes_it(env, inv):
    from provision.cli.rebuild import command as rebuild

    option = next((p for p in rebuild.params if p.name == "notify"), None)
    url = "https://hooks.example.com/nightly/t0ken"
    result = run("--at", "02:30", "--notify", url)
    service = user_scope().unit_dir / unit_names(inv)[0]
    if option is not None and isinstance(option.envvar, str):
        assert result.exit_code == 0, result.output
        assert f'Environment="{option.envvar}={url}"\n' in service.read_text()
        assert "t0ken" not in result.output  # the printed command line does not carry it
    elif option is not None:
        assert result.exit_code == 0, result.output
        assert f"--notify {url}" in service.read_text()
    else:
        assert result.exit_code == 2 and "has no --notify" in result.stderr
        assert not service.exists()


def test_system_scope_is_refused_for_a_user_that_is_not_root(env, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = run("--at", "02:30", "--system")
    assert result.exit_code == 2
    assert "root" in result.stderr and "fix:" in result.stderr
    result = run("--remove", "--system")
    assert result.exit_code == 2 and "root" in result.stderr


def test_system_scope_writes_checked_units_and_enables_them(
    env, inv, cluster, tmp_path, monkeypatch
):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("FAKE_SYSTEMD", "running")
    scope = Scope("system", tmp_path / "etc-systemd")
    done = install(inv, cluster, Schedule(4, 5), scope, [str(CLI)])
    assert done.manager and done.commands == []
    assert done.next_run == "Thu 2026-12-03 02:33:14 UTC"
    assert "verify: no problems" in done.checked or "not installed" in done.checked
    service, timer = unit_names(inv)
    calls = systemctl_calls(tmp_path)
    assert calls[0] == "is-system-running"
    assert calls[1:3] == ["daemon-reload", f"enable --now {timer}"]
    assert calls[3].startswith("show ") and calls[3].endswith(timer)
    assert all("--user" not in c for c in calls)
    for name in (service, timer):
        info = os.lstat(scope.unit_dir / name)
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600


@pytest.mark.parametrize(
    ("says", "code", "exit_code", "printed"),
    [
        ("Failed to initialize manager: No such device or address", 1, 0, "could not run here"),
        ("{unit}:9: Unknown key 'Bogus' in section [Service], ignoring.", 0, 3, "refuses"),
    ],
)
def test_systemd_analyze_that_cannot_run_is_said_one_that_complains_stops_it(
    says, code, exit_code, printed, env, inv, tmp_path, monkeypatch
):
    fake = tmp_path / "fakeanalyze"
    fake.mkdir()
    service = unit_names(inv)[0]
    (fake / "systemd-analyze").write_text(
        f'#!/bin/sh\necho "{says.format(unit=service)}" >&2\nexit {code}\n'
    )
    (fake / "systemd-analyze").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    result = run("--at", "02:30")
    assert result.exit_code == exit_code, result.output
    assert printed in result.output
    assert (user_scope().unit_dir / service).exists() == (exit_code == 0)


def test_the_real_cli_without_a_manager_prints_the_commands_and_exits_0(env, inv, tmp_path):
    """The real command, the real systemctl, no bus to reach: the fallback is printed."""
    runtime = tmp_path / "empty-runtime"
    runtime.mkdir(mode=0o700)
    real = {k: v for k, v in env.items() if k != "PATH"}
    real["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "fakebin" not in p)
    real["XDG_RUNTIME_DIR"] = str(runtime)

    def schedule(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CLI), "schedule", *args, "-i", str(LAB)],
            cwd=ROOT,
            env=real,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    out = schedule("--at", "02:30", "--restore-drill")
    assert out.returncode == 0, out.stdout + out.stderr
    service, timer = unit_names(inv)
    unit_dir = tmp_path / "config" / "systemd" / "user"
    if shutil.which("systemctl", path=real["PATH"]) is not None:
        assert "no systemd user manager answered" in out.stdout
        assert "NOT enabled" in out.stdout
        assert "    systemctl --user daemon-reload\n" in out.stdout
        assert f"    systemctl --user enable --now {timer}\n" in out.stdout
    assert f"wrote {unit_dir / service}\n" in out.stdout
    assert f"runs every day at 02:30: {CLI} rebuild -i {LAB} --wait --restore-drill" in out.stdout
    if ANALYZE is not None:
        assert "systemd-analyze --user verify: no problems" in out.stdout
    assert f"ExecStart={CLI} rebuild " in (unit_dir / service).read_text()
    again = schedule("--remove")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"removed {unit_dir / timer}\n" in again.stdout
    assert not (unit_dir / service).exists() and not (unit_dir / timer).exists()


def test_writing_again_replaces_this_labs_units(env, inv):
    assert run("--at", "02:30").exit_code == 0
    result = run("--at", "03:45", "--restore-drill")
    assert result.exit_code == 0, result.output
    timer = (user_scope().unit_dir / unit_names(inv)[1]).read_text()
    assert "OnCalendar=*-*-* 03:45:00\n" in timer


@pytest.mark.parametrize(
    "text",
    [
        "[Timer]\nOnCalendar=daily\n",  # the user's own
        f"{MARK}/somewhere/else/lab-00000000\n[Timer]\nOnCalendar=daily\n",  # another lab's
    ],
)
def test_a_unit_file_that_is_not_this_labs_is_refused_and_kept(text, env, inv):
    unit_dir = user_scope().unit_dir
    unit_dir.mkdir(parents=True)
    foreign = unit_dir / unit_names(inv)[1]
    foreign.write_text(text)
    result = run("--at", "02:30")
    assert result.exit_code == 2, result.output
    assert str(foreign) in result.stderr and "fix:" in result.stderr
    assert foreign.read_text() == text
    assert not (unit_dir / unit_names(inv)[0]).exists()  # nothing written, not even the service


def test_a_symlink_at_the_unit_path_is_not_followed(env, inv, tmp_path):
    unit_dir = user_scope().unit_dir
    unit_dir.mkdir(parents=True)
    target = tmp_path / "elsewhere.service"
    target.write_text(f"{MARK}{identity(inv)}\n[Service]\nExecStart=/bin/true\n")
    link = unit_dir / unit_names(inv)[0]
    link.symlink_to(target)
    result = run("--at", "02:30")
    assert result.exit_code == 2, result.output
    assert "symlink" in result.stderr and "fix:" in result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().endswith("ExecStart=/bin/true\n")
    result = run("--remove")
    assert result.exit_code == 0 and f"left {link}" in result.output
    assert link.is_symlink()


def test_remove_takes_only_this_labs_units(env, inv, tmp_path):
    unit_dir = user_scope().unit_dir
    unit_dir.mkdir(parents=True)
    mine_service, mine_timer = unit_names(inv)
    others = {
        "provision-rebuild-other-12345678.timer": f"{MARK}/x/state/provision/other-12345678\n",
        "backup.timer": "[Timer]\nOnCalendar=daily\n",
    }
    for name, text in others.items():
        (unit_dir / name).write_text(text)
    assert run("--at", "02:30").exit_code == 0
    # what `systemctl --user enable` makes while no manager runs, and a link of the user's
    wants = unit_dir / "timers.target.wants"
    wants.mkdir()
    (wants / mine_timer).symlink_to(unit_dir / mine_timer)
    (wants / "backup.timer").symlink_to(unit_dir / "backup.timer")
    result = run("--remove")
    assert result.exit_code == 0, result.output
    assert f"removed {unit_dir / mine_timer}" in result.output
    assert f"removed {unit_dir / mine_service}" in result.output
    assert sorted(p.name for p in unit_dir.iterdir()) == sorted([*others, "timers.target.wants"])
    assert [p.name for p in wants.iterdir()] == ["backup.timer"]
    for name, text in others.items():
        assert (unit_dir / name).read_text() == text
    # a foreign file under this lab's name is left, and said so
    (unit_dir / mine_timer).write_text("[Timer]\nOnCalendar=weekly\n")
    result = run("--remove")
    assert result.exit_code == 0
    assert f"left {unit_dir / mine_timer}: not written by provision" in result.output
    assert (unit_dir / mine_timer).read_text() == "[Timer]\nOnCalendar=weekly\n"


def test_remove_disables_the_timer_where_a_manager_answers(
    env, inv, cluster, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKE_SYSTEMD", "running")
    scope = user_scope()
    install(inv, cluster, Schedule(2, 30), scope, [str(CLI)])
    (tmp_path / "systemctl.log").unlink()
    done = remove(inv, scope)
    _, timer = unit_names(inv)
    assert len(done.removed) == 2 and done.left == [] and done.notes == []
    assert systemctl_calls(tmp_path) == [
        "--user is-system-running",
        f"--user disable --now {timer}",
        "--user daemon-reload",
    ]


def test_remove_with_nothing_there_says_so(env):
    result = run("--remove")
    assert result.exit_code == 0 and "no schedule of this lab" in result.output


def tree(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every path under root with its mode, size and content (links: their target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = os.lstat(path)
        body = (
            os.readlink(path).encode()
            if path.is_symlink()
            else path.read_bytes()
            if stat.S_ISREG(info.st_mode)
            else b""
        )
        found[str(path)] = (info.st_mode, info.st_size, body)
    return found


def history_line(stamp: str, passed: bool) -> str:
    return json.dumps(
        {
            "report": stamp,
            "started": "2026-12-01T02:31:00+00:00",
            "seconds": 600.0,
            "passed": passed,
            "phases": {"machines": 30.0},
            "checks_failed": 0 if passed else 1,
            "checks": 20,
            "drill_passed": passed,
        }
    )


def test_status_without_a_schedule_says_nothing(env, inv):
    assert schedule_status(inv) is None
    assert systemctl_calls(Path(env["FAKE_SYSTEMCTL_LOG"]).parent) == []


def test_status_shows_the_next_run_and_the_last_verdict_reading_only(env, inv, tmp_path):
    assert run("--at", "02:30").exit_code == 0
    reports = inv.state_dir / "reports"
    reports.mkdir(parents=True)
    (reports / "history.jsonl").write_text(
        history_line("20261130T023100.000000Z", False)
        + "\n"
        + history_line("20261201T023100.000000Z", True)
        + "\n"
    )
    (tmp_path / "systemctl.log").unlink()
    before = tree(tmp_path)
    status = schedule_status(inv)
    calls = systemctl_calls(tmp_path)
    (tmp_path / "systemctl.log").unlink()
    assert tree(tmp_path) == before  # status wrote nothing
    assert [c.split()[:2] for c in calls] == [["--user", "show"]]  # only asked
    assert status is not None
    (entry,) = status["timers"]
    assert entry["scope"] == "user" and entry["at"] == "02:30"
    assert entry["from"] == "the timer file: no systemd manager answered"
    assert entry["next_run"].split()[2] == "02:30"
    assert status["last_rebuild"] == {
        "verdict": "passed",
        "report": "20261201T023100.000000Z",
        "started": "2026-12-01T02:31:00+00:00",
        "drill_passed": True,
    }


def test_status_asks_systemd_for_the_next_run_when_it_answers(env, inv, monkeypatch):
    assert run("--at", "02:30").exit_code == 0
    monkeypatch.setenv("FAKE_SYSTEMD", "running")
    status = schedule_status(inv)
    assert status is not None
    (entry,) = status["timers"]
    assert entry["from"] == "systemd"
    assert entry["next_run"] == "Thu 2026-12-03 02:33:14 UTC"
    assert status["last_rebuild"] == {"verdict": "none yet"}


@pytest.mark.parametrize("damage", ["garbage", "not-an-entry", "fifo", "symlink", "directory"])
def test_a_damaged_history_gives_unknown_never_a_crash(damage, env, inv, tmp_path):
    assert run("--at", "02:30").exit_code == 0
    reports = inv.state_dir / "reports"
    reports.mkdir(parents=True)
    history = reports / "history.jsonl"
    if damage == "garbage":
        history.write_bytes(b"\xff\xfe{not json\n")
    elif damage == "not-an-entry":
        history.write_text('{"report": 1}\n')
    elif damage == "fifo":
        os.mkfifo(history)
    elif damage == "symlink":
        (tmp_path / "real.jsonl").write_text(history_line("x", True) + "\n")
        history.symlink_to(tmp_path / "real.jsonl")
    else:
        history.mkdir()
    status = schedule_status(inv)
    assert status is not None
    assert status["last_rebuild"]["verdict"] == "unknown"
    assert status["last_rebuild"]["reason"]


def test_status_prints_the_schedule(capsys):
    from provision.cli.common import console

    print_schedule(
        console(),
        {
            "timers": [
                {
                    "scope": "user",
                    "timer": "provision-rebuild-lab-1.timer",
                    "file": "/x",
                    "at": "02:30",
                    "next_run": "Thu 2026-12-03 02:33:14 UTC",
                    "from": "systemd",
                }
            ],
            "last_rebuild": {"verdict": "failed", "report": "r1", "started": "s1"},
        },
    )
    print_schedule(console(), None)
    out = capsys.readouterr().out
    assert out == (
        "schedule (user): every day at 02:30; next run Thu 2026-12-03 02:33:14 UTC "
        "(from systemd); provision-rebuild-lab-1.timer\n"
        "last rebuild: failed, started s1 (report r1)\n"
    )


def test_the_next_run_from_the_timer_file():
    zone = timezone(timedelta(hours=1), "CET")
    before = datetime(2026, 12, 2, 1, 0, tzinfo=zone)
    after = datetime(2026, 12, 2, 3, 0, tzinfo=zone)
    assert next_run_at(2, 30, before) == "Wed 2026-12-02 02:30 CET (+ up to 5 min)"
    assert next_run_at(2, 30, after) == "Thu 2026-12-03 02:30 CET (+ up to 5 min)"
