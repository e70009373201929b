"""The non-root login: commands become root through `sudo -n`, container nodes log
in as `vagrant`, and an existing host whose sudo asks for a password is refused
with the host named and the fix."""

import shlex
import subprocess
from types import SimpleNamespace

import pytest
import yaml

from provision.config import load
from provision.machines import node_image
from provision.machines.providers.docker import docker_create_args
from provision.machines.providers.existing import SshHosts
from provision.machines.ssh_hosts import NoPasswordlessSudo, as_root, sudo_problem
from provision.runlog import RunLog

COMMAND = 'echo \'{"a": 1}\' | grep -c a; echo "$HOME" >/dev/null'


def test_root_runs_commands_unchanged():
    assert as_root(COMMAND, "root") == COMMAND


def test_other_users_run_commands_through_sudo_without_a_password_prompt():
    assert shlex.split(as_root(COMMAND, "vagrant")) == ["sudo", "-n", "--", "sh", "-c", COMMAND]


def test_the_quoted_command_runs_unchanged_in_its_shell():
    wrapped = as_root(COMMAND, "vagrant").replace("sudo -n -- ", "", 1)
    out = subprocess.run(["sh", "-c", wrapped], capture_output=True, text=True, check=True)
    assert out.stdout == "1\n"


def test_node_image_has_a_sudo_login_user_in_its_recipe():
    recipe = node_image.recipe()
    assert recipe["user"] == ["vagrant", 1000, "/home/vagrant"]
    assert recipe["sudoers"] == "vagrant ALL=(ALL) NOPASSWD: ALL\n"
    assert "sudo" in recipe["packages"]


def test_the_lab_key_is_mounted_for_the_login_user_and_root(tmp_path):
    args = docker_create_args("lab", tmp_path / "authorized_keys")
    mounts = [args[i + 1] for i, a in enumerate(args) if a == "-v" and ":" in args[i + 1]]
    assert f"{tmp_path}/authorized_keys:/home/vagrant/.ssh/authorized_keys:ro" in mounts
    assert f"{tmp_path}/authorized_keys:/root/.ssh/authorized_keys:ro" in mounts


def test_the_bundle_is_mounted_read_only_only_when_there_is_one(tmp_path):
    def mounts(args):
        return [args[i + 1] for i, a in enumerate(args) if a == "-v"]

    assert f"{tmp_path}:/opt/provision/bundle:ro" in mounts(
        docker_create_args("lab", tmp_path / "k", tmp_path)
    )
    assert not any("/opt/provision" in m for m in mounts(docker_create_args("lab", tmp_path / "k")))
    # -v splits at colons: such a path is not mounted (the roles copy over SSH)
    odd = tmp_path / "a:b"
    assert not any("/opt/provision" in m for m in mounts(docker_create_args("lab", tmp_path, odd)))


class FakeConn:
    def __init__(self, exited: int, stderr: str = ""):
        self.result = SimpleNamespace(exited=exited, stdout="", stderr=stderr)
        self.commands: list[str] = []

    def run(self, command, **kwargs):
        self.commands.append(command)
        return self.result


def test_sudo_problem_names_what_sudo_said():
    conn = FakeConn(1, "sudo: a password is required\n")
    problem = sudo_problem(conn, "ops")
    assert conn.commands == ["sudo -n true"]
    assert problem == "sudo -n true as ops failed (exit 1): sudo: a password is required"
    assert sudo_problem(FakeConn(0), "ops") is None
    root = FakeConn(1)
    assert sudo_problem(root, "root") is None and root.commands == []


@pytest.fixture
def existing_hosts(lab, write_config, tmp_path):
    lab["machines"] = {
        "kind": "ssh",
        "ssh": {"user": "ops", "private_key": "id", "known_hosts": "known_hosts"},
    }
    config = load(write_config(yaml.safe_dump(lab)))
    return SshHosts(config, tmp_path, RunLog(tmp_path / "state", "up"))


def test_preflight_refuses_hosts_whose_sudo_asks_for_a_password(existing_hosts, monkeypatch):
    states = {
        "cp1": "running",
        "w1": "no passwordless sudo (sudo -n true as ops failed (exit 1): "
        "sudo: a password is required)",
        "w2": "running",
    }
    monkeypatch.setattr(existing_hosts, "_probe_all", lambda sudo=False: list(states.items()))
    with pytest.raises(NoPasswordlessSudo) as err:
        existing_hosts.up()
    text = str(err.value)
    assert err.value.exit_code == 4
    assert "ops cannot run commands as root without a password" in text
    assert "  w1: no passwordless sudo" in text and "a password is required" in text
    assert "cp1" not in text and "w2" not in text
    assert "nothing was changed" in text
    assert "echo 'ops ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/ops" in text
