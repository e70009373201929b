"""One changing command at a time per lab, with real processes: the real `provision`
command against a lock held by another process (busy: exit 10 naming the holder,
nothing written; --wait: it waits, then runs), a killed holder leaves nothing held,
read-only commands never take the lock, and of six processes racing for it one wins."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provision.errors import LabBusy
from provision.lock import lock_path
from provision.project import resolve_inventory
from tests.conftest import provision

# Holds the lab's lock as `provision up` would, says so, then sleeps until killed.
HOLD = """
import sys, time
from pathlib import Path
from provision.lock import lab_lock
with lab_lock(Path(sys.argv[1]), "up"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""

# Tries the lock once without waiting; prints what happened.
TRY = """
import sys, time
from pathlib import Path
from provision.errors import LabBusy
from provision.lock import lab_lock
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start together
try:
    with lab_lock(Path(sys.argv[1]), "backup"):
        print("locked", flush=True)
        time.sleep(2)
except LabBusy:
    print("busy", flush=True)
"""


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"}


@pytest.fixture
def state(lab, write_config, env, monkeypatch) -> tuple[Path, Path]:
    """(cluster.yml, the state dir provision computes for it under this env)."""
    config = write_config(lab)
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    return config, resolve_inventory(str(config)).state_dir


def holder(state_dir: Path, env: dict[str, str], seconds: float = 60) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", HOLD, str(state_dir), str(seconds)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_changing_command_is_refused_at_once_naming_the_holder(state, env):
    config, state_dir = state
    proc = holder(state_dir, env)
    try:
        started = time.monotonic()
        out = provision("up", "-i", str(config), env=env, check=False)
        took = time.monotonic() - started
        assert out.returncode == 10, out
        assert f"`provision up` (process {proc.pid}, started " in out.stderr, out.stderr
        assert "--wait" in out.stderr
        assert took < 30, f"refused only after {took:.0f} s"
        # refused before anything: not even the lab's state directory
        assert not state_dir.exists(), sorted(state_dir.rglob("*"))
    finally:
        proc.kill()
        proc.wait()


def test_wait_waits_for_the_holder_then_runs(state, env):
    config, state_dir = state
    proc = holder(state_dir, env, seconds=4)
    started = time.monotonic()
    out = provision("node", "reset", "w1", "-i", str(config), "--wait", env=env, check=False)
    took = time.monotonic() - started
    proc.wait()
    assert "waiting for `provision up` (process" in out.stderr, out.stderr
    assert out.returncode != 10, out
    assert took >= 2, f"did not wait: {took:.1f} s"
    # it ran once the holder was gone: it opened its own run
    assert list((state_dir / "runs").glob("*-node-reset")), sorted(state_dir.rglob("*"))


def test_a_killed_holder_leaves_the_lab_free(state, env):
    config, state_dir = state
    proc = holder(state_dir, env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out = provision("node", "reset", "w1", "-i", str(config), env=env, check=False)
    assert out.returncode != 10, out
    assert list((state_dir / "runs").glob("*-node-reset"))


@pytest.mark.parametrize("command", [["plan"], ["validate"], ["render", "--out", "{out}"]])
def test_read_only_commands_never_take_the_lock(state, env, tmp_path, command):
    config, state_dir = state
    proc = holder(state_dir, env)
    try:
        args = [a.format(out=tmp_path / "rendered") for a in command]
        out = provision(*args, "-i", str(config), env=env, check=False)
        assert out.returncode == 0, out
    finally:
        proc.kill()
        proc.wait()


def test_of_six_racing_processes_exactly_one_holds_the_lock(state, env):
    _, state_dir = state
    at = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-P", "-c", TRY, str(state_dir), at],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    said = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert said == ["busy"] * 5 + ["locked"], said


def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(state, env, tmp_path):
    config, state_dir = state
    state_dir.parent.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    lock_path(state_dir).symlink_to(target)
    out = provision("up", "-i", str(config), env=env, check=False)
    assert out.returncode == 2, out
    assert "is a symbolic link" in out.stderr and "fix:" in out.stderr
    assert target.read_text() == "keep me\n"


# -- a nightly rebuild that finds the lab busy --------------------------------------


@pytest.fixture
def unreachable(lab, write_config, env, monkeypatch, tmp_path) -> tuple[Path, Path]:
    """(cluster.yml, state dir) of existing hosts on a closed port of this machine: a
    rebuild that gets the lock fails in its machines phase and touches no machine."""
    from tests.conftest import as_existing_hosts
    from tests.unit.test_rebuild_failure import HOST, closed_port

    config = write_config(as_existing_hosts(lab, tmp_path, HOST, closed_port()))
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    return config, resolve_inventory(str(config)).state_dir


def test_a_rebuild_of_a_busy_lab_is_skipped_naming_the_holder_and_writes_nothing(
    unreachable, env, monkeypatch
):
    from tests.unit.test_notify import Webhook

    config, state_dir = unreachable
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    proc = holder(state_dir, env)
    hook = Webhook([])
    try:
        out = provision("rebuild", "-i", str(config), "--notify", hook.url, env=env, check=False)
        assert out.returncode == LabBusy.exit_code == 10, out
        skipped = f"skipped: busy (held by `provision up`, process {proc.pid}, since "
        assert skipped in out.stderr, out.stderr
        (posted,) = [json.loads(b) for b in hook.bodies]
        assert posted["verdict"] == "skipped" and posted["reason"].startswith(skipped)
        # bounded: it waits that long, then gives up the same way
        started = time.monotonic()
        out = provision("rebuild", "-i", str(config), "--wait-timeout", "1.5", env=env,
                        check=False)  # fmt: skip
        took = time.monotonic() - started
        assert out.returncode == 10, out
        assert "waiting at most 1.5 s for `provision up` (process" in out.stderr, out.stderr
        assert skipped in out.stderr
        assert 1.5 <= took < 30, took
        # nothing written: no state directory, so no report, run or history
        assert not state_dir.exists(), sorted(state_dir.rglob("*"))
    finally:
        hook.close()
        proc.kill()
        proc.wait()


def test_a_rebuild_with_a_wait_timeout_runs_once_the_holder_is_gone(unreachable, env):
    config, state_dir = unreachable
    proc = holder(state_dir, env, seconds=3)
    started = time.monotonic()
    out = provision("rebuild", "-i", str(config), "--wait-timeout", "120", env=env, check=False)
    took = time.monotonic() - started
    proc.wait()
    assert "waiting at most 120 s for `provision up`" in out.stderr, out.stderr
    assert took >= 2, f"did not wait: {took:.1f} s"
    # it ran, failed in the machines phase (nothing listens) and wrote its report
    assert out.returncode == 8, out
    assert len([p for p in (state_dir / "reports").iterdir() if p.is_dir()]) == 1
