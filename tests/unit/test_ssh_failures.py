"""A node's SSH port that answers with something else than SSH (a real TCP server on
this machine that says "hello" and hangs up, or says nothing): a clean error naming
the node's address and the fix, never a traceback from paramiko's log on stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest
import yaml

from provision.config.load import load_text
from provision.errors import MachinesError, UsageError
from provision.inventory import write_inventory
from provision.machines.base import SshEndpoint
from provision.machines.ssh_hosts import UnreachableHost
from provision.project import resolve_inventory
from provision.remote import shells
from tests.conftest import CLI, LAB, ROOT, as_existing_hosts

GREETINGS = {
    "hello": b"hello\n",
    "nothing": b"",
    "ssh-then-garbage": b"SSH-2.0-OpenSSH_9.2\r\n" + b"\xff" * 64,
}


class Impostor:
    """A TCP server on `host` that greets each client with `greeting` and hangs up."""

    def __init__(self, host: str, greeting: bytes) -> None:
        self.server = socket.create_server((host, 0))
        self.port = self.server.getsockname()[1]
        self.greeting = greeting
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed
                return
            with contextlib.suppress(OSError):
                conn.sendall(self.greeting)
            conn.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture(params=GREETINGS, ids=list(GREETINGS))
def impostor(request):
    server = Impostor("127.0.0.1", GREETINGS[request.param])
    yield server
    server.close()


def _lab_state(tmp_path: Path, port: int, nodes: dict[str, int] | None = None):
    """A state dir whose generated inventory puts every node on 127.0.0.1:port."""
    config = load_text(LAB.read_text(), str(LAB))
    state = tmp_path / "state"
    state.mkdir()
    key = tmp_path / "id"
    key.write_text("not a key\n")
    (state / "known_hosts").write_text("")
    ports = nodes or {n.name: port for n in config.nodes}
    endpoints = {
        n.name: SshEndpoint("127.0.0.1", ports.get(n.name, port), "root", str(key))
        for n in config.nodes
    }
    write_inventory(state / "hosts.yml", config, endpoints, state / "known_hosts")
    return SimpleNamespace(state_dir=state, hosts_file=state / "hosts.yml")


def _paramiko_done() -> None:
    """paramiko's transport threads have ended: whatever they log is logged."""
    for thread in threading.enumerate():
        if isinstance(thread, paramiko.Transport):
            thread.join(10)


def test_a_port_that_is_no_ssh_server_is_a_clean_error(tmp_path, impostor, capfd):
    inv = _lab_state(tmp_path, impostor.port)
    with shells(inv, {"cp": "cp1"}) as on, pytest.raises(UnreachableHost) as e:
        on["cp"](["true"])
    _paramiko_done()
    text = str(e.value)
    assert e.value.exit_code == MachinesError.exit_code == 4
    assert text.startswith(f"cp1: cannot be reached over SSH at 127.0.0.1:{impostor.port}: ")
    assert "\n  fix: check that cp1 runs and answers SSH there" in text
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Exception" not in out + err, err
    assert err == ""
    # What paramiko logs (the traceback) stops at its logger, which has a NullHandler:
    # neither the root logger's handlers nor Python's last resort (stderr) see it.
    # (pytest hangs capture handlers of its own on a logger that does not propagate.)
    logger = logging.getLogger("paramiko")
    assert logger.propagate is False
    assert (
        [h for h in logger.handlers if type(h).__module__ == "logging"]
        == [h for h in logger.handlers if isinstance(h, logging.NullHandler)]
        != []
    )


def test_a_banner_that_is_no_ssh_says_so(tmp_path, capfd):
    server = Impostor("127.0.0.1", b"hello\n")
    try:
        inv = _lab_state(tmp_path, server.port)
        with shells(inv, {"cp": "cp1"}) as on, pytest.raises(UnreachableHost) as e:
            on["cp"].put(b"data", "/tmp/x")
    finally:
        server.close()
    _paramiko_done()
    assert "it answers, but not as an SSH server" in str(e.value)
    assert "protocol banner" in str(e.value)
    assert capfd.readouterr().err == ""


def test_a_closed_port_and_a_port_out_of_range_are_clean_errors(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    inv = _lab_state(tmp_path, closed, {"w1": -1, "w2": 70000})
    with shells(inv, {"cp": "cp1", "w1": "w1", "w2": "w2"}) as on:
        for role, port in (("cp", closed), ("w1", -1), ("w2", 70000)):
            with pytest.raises(UnreachableHost, match=re.escape(f"127.0.0.1:{port}: ")):
                on[role](["true"])


def test_a_node_the_inventory_does_not_name_is_a_clean_error(tmp_path):
    inv = _lab_state(tmp_path, 22)
    with pytest.raises(UsageError, match="has no node cp9") as e, shells(inv, {"cp": "cp9"}):
        pass
    assert "fix: `provision up --only machines` writes it again" in str(e.value)


@pytest.mark.parametrize("which", ["known_hosts", "key"])
@pytest.mark.parametrize("make", ["fifo", "not-utf8", "missing"])
def test_a_known_hosts_or_key_paramiko_would_choke_on_is_refused_first(tmp_path, which, make):
    inv = _lab_state(tmp_path, 22)
    path = inv.state_dir / "known_hosts" if which == "known_hosts" else tmp_path / "id"
    path.unlink()
    if make == "fifo":
        os.mkfifo(path)
    elif make == "not-utf8":
        path.write_bytes(b"\xff\xfe\n")
    with pytest.raises(UsageError) as e, shells(inv, {"cp": "cp1"}):
        pass
    words = {
        "fifo": "a FIFO, not a regular file",
        "not-utf8": "not UTF-8 text",
        "missing": "there is no such file",
    }[make]
    assert str(path) in str(e.value) and words in str(e.value) and "fix:" in str(e.value)


# -- the real command: nothing of paramiko's on stderr ------------------------------


@pytest.fixture
def lab_on(tmp_path, monkeypatch):
    """An existing-hosts lab whose every node is an impostor on this machine (reached
    by its name: the config refuses loopback addresses)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    host = socket.gethostname()
    server = Impostor(socket.gethostbyname(host), b"hello\n")
    lab = as_existing_hosts(yaml.safe_load(LAB.read_text()), tmp_path, host, server.port)
    config = tmp_path / "inv" / "cluster.yml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(lab))
    yield config, f"{host}:{server.port}"
    server.close()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=os.environ
    )


def test_status_and_up_against_an_impostor_print_no_traceback(lab_on):
    config, where = lab_on
    status = _run("status", "-i", str(config))
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr and "Exception" not in status.stderr, status.stderr
    assert f"unreachable at {where} (it answers, but not as an SSH server" in " ".join(
        status.stdout.split()
    )
    up = _run("up", "--only", "machines", "-i", str(config))
    assert up.returncode == 4, up.stdout + up.stderr
    assert "Traceback" not in up.stderr and "Exception (client)" not in up.stderr, up.stderr
    text = " ".join(up.stderr.split())
    assert f"cp1: unreachable at {where}" in text and "fix:" in text
    assert resolve_inventory(str(config)).state_dir.is_dir()
