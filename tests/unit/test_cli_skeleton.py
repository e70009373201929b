"""The command skeleton: read-only commands open no run; Ctrl-C and SIGTERM end a
command with the interrupted hint and exit 130, up records the phase, and no child
provision started outlives it. Real subprocesses and real signals; the nodes are a
local TCP server that accepts SSH connections and never answers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from provision.cli import cli
from provision.errors import INTERRUPTED
from provision.project import resolve_inventory
from tests.conftest import CLI, ROOT, as_existing_hosts

HINT = "interrupted: run the same command again to continue"


class SilentNodes:
    """A TCP server that accepts connections and never sends a byte: an SSH client
    waits for the banner until the test lets go. Reached by this machine's name (the
    config refuses loopback addresses for existing hosts)."""

    def __init__(self) -> None:
        self.name = socket.gethostname()
        self.server = socket.create_server((socket.gethostbyname(self.name), 0))
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed
                return
            self.accepted.append(conn)

    def wait_for_client(self, proc: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.accepted and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.accepted:
            proc.kill()
            pytest.fail(f"provision never connected:\n{proc.communicate()[0]}")

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def nodes():
    server = SilentNodes()
    yield server
    server.close()


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return {**os.environ}


def existing_hosts(lab, write_config, tmp_path, nodes: SilentNodes) -> Path:
    """An inventory of existing hosts, every node on the silent server."""
    return write_config(as_existing_hosts(lab, tmp_path, nodes.name, nodes.port))


def start(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(CLI), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def interrupt(proc: subprocess.Popen, signum: int, nodes: SilentNodes) -> str:
    nodes.wait_for_client(proc)
    proc.send_signal(signum)
    time.sleep(1)  # the signal is handled; let the SSH attempts end now, not at their timeout
    nodes.close()
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == INTERRUPTED, output
    return output


def state(config: Path) -> Path:
    """The config's state dir, under the test's XDG_STATE_HOME (see env)."""
    return resolve_inventory(str(config)).state_dir


def runs(config: Path) -> Path:
    return state(config) / "runs"


# --- read-only commands ---------------------------------------------------------------

READ_ONLY = [
    ["validate"],
    ["plan"],
    ["status"],
    ["status", "--json"],
    ["render", "--out", "{OUT}"],
    ["doctor"],
    ["kubectl", "--", "get", "nodes"],
    ["bundle", "check"],
    ["backup", "--list"],
]


@pytest.mark.parametrize("argv", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_a_read_only_command_opens_no_run(argv, lab, write_config, tmp_path, env):
    config = write_config(lab)
    latest = runs(config) / "latest"
    (runs(config) / "20260101T000000.000000Z-up").mkdir(parents=True)
    latest.symlink_to("20260101T000000.000000Z-up")
    argv = [a.replace("{OUT}", str(tmp_path / "out")) for a in argv]
    result = CliRunner().invoke(cli, [*argv[:2], "-i", str(config), *argv[2:]])
    assert "Traceback" not in result.output, result.output
    assert sorted(p.name for p in runs(config).iterdir()) == [
        "20260101T000000.000000Z-up",
        "latest",
    ]
    assert os.readlink(latest) == "20260101T000000.000000Z-up"


def test_a_command_that_changes_something_opens_a_run(lab, write_config, tmp_path, env):
    config = write_config(lab)
    result = CliRunner().invoke(cli, ["verify", "-i", str(config)])
    assert result.exit_code == 2, result.output  # no inventory yet: nothing to verify
    (run,) = [p for p in runs(config).iterdir() if p.name != "latest"]
    assert run.name.endswith("-verify")
    assert (runs(config) / "latest").resolve() == run
    assert f"provision verify: cluster lab ({config}); log {run / 'run.log'}" in result.output


# --- Ctrl-C and SIGTERM -----------------------------------------------------------------


def generated_hosts(config: Path, nodes: SilentNodes) -> None:
    """The inventory `up` would have written for nodes on the silent server."""
    inv = resolve_inventory(str(config))
    inv.state_dir.mkdir(parents=True, exist_ok=True)
    (inv.state_dir / "known_hosts").write_text("")
    host = {"ansible_host": nodes.name, "ansible_port": nodes.port, "ansible_user": "root"}
    hosts = {"cp1": host, "w1": host, "w2": host}
    groups = {"control_plane": ["cp1"], "workers": ["w1", "w2"]}
    children = {g: {"hosts": {n: hosts[n] for n in names}} for g, names in groups.items()}
    data = {"all": {"children": {"k8s_cluster": {"children": children}}}}
    inv.hosts_file.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_verify_interrupted_says_so_and_exits_130(signum, nodes, lab, write_config, tmp_path, env):
    config = write_config(lab)
    generated_hosts(config, nodes)
    proc = start("verify", "-i", str(config), env=env)
    output = interrupt(proc, signum, nodes)
    assert HINT in output
    assert "Traceback" not in output
    assert HINT in (runs(config) / "latest" / "run.log").read_text()


def test_sigterm_during_up_records_the_phase_as_interrupted(
    nodes, lab, write_config, tmp_path, env
):
    config = existing_hosts(lab, write_config, tmp_path, nodes)
    proc = start("up", "-i", str(config), env=env)
    output = interrupt(proc, signal.SIGTERM, nodes)
    assert HINT in output
    phases = json.loads((state(config) / "phases.json").read_text())
    assert phases["phases"]["machines"]["status"] == "failed"
    assert phases["phases"]["machines"]["error"] == "KeyboardInterrupt"


# A command whose work is two children: one in provision's process group (as vagrant
# is), one in a session of its own (as ansible-runner starts ansible-playbook).
CHILDREN = """
import subprocess, sys
from provision.cli.base import RunCommand
from provision.cli.common import error_exit
from provision.cli.interrupts import interrupts

class Children(RunCommand):
    run_name = "children"

    def execute(self):
        same = subprocess.Popen(["sleep", "600"])
        own = subprocess.Popen(["sleep", "600"], start_new_session=True)
        print("children", same.pid, own.pid, flush=True)
        same.wait()

with error_exit(), interrupts():
    Children(sys.argv[1]).main()
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_an_interrupt_stops_every_child(how, lab, write_config, tmp_path, env):
    """SIGTERM goes to provision alone; Ctrl-C goes to the terminal's group: provision
    and the child beside it, never the one in a session of its own."""
    config = write_config(lab)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", CHILDREN, str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    line = ""
    while not line.startswith("children"):
        line = proc.stdout.readline()
        assert line, "the command ended before starting its children"
    pids = [int(p) for p in line.split()[1:]]
    started = time.monotonic()
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == INTERRUPTED, output
    assert HINT in output
    assert time.monotonic() - started < 10  # the children stopped at SIGINT, not at the kill
    assert not [p for p in pids if alive(p)]


SETTLE = """
import subprocess, sys, time
from provision.cli.interrupts import settle

child = subprocess.Popen(["sh", "-c", "trap '' INT TERM; sleep 600"])
time.sleep(0.5)
settle(timeout=1)
print("child", child.pid, child.wait(), flush=True)
"""


def test_a_child_that_ignores_the_interrupt_is_killed_after_the_wait():
    out = subprocess.run(
        [sys.executable, "-P", "-c", SETTLE],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.split()[2] == str(-signal.SIGKILL), out
