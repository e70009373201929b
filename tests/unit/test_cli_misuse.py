"""Misuse of the command line: every case ends in a message and an exit code, never a
traceback and never a hang (a FIFO or /dev/zero given as the config is not read)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from provision.cli import cli
from tests.conftest import LAB, ROOT


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Paths the cases refer to by name, made fresh for each test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PROVISION_ROOT", str(ROOT))
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.yml"
    loop.symlink_to(loop)
    big = tmp_path / "big.yml"
    big.write_text("#" * (2 << 20))
    bad = tmp_path / "bad.yml"
    bad.write_text("cluster: {name: Bad_Name}\n")
    return {
        "LAB": str(LAB),
        "FILE": str(a_file),
        "FIFO": str(fifo),
        "LOOP": str(loop),
        "BIG": str(big),
        "BAD": str(bad),
        "OUT": str(tmp_path / "out"),
        "TMP": str(tmp_path),
    }


# (id, argv with {NAME} placeholders, env, allowed exit codes, words in the output)
CASES = [
    ("empty-inventory", ["validate", "-i", ""], {}, {2}, "is empty"),
    ("blank-inventory", ["validate", "-i", "  "], {}, {2}, "is empty"),
    ("empty-inventory-up", ["up", "-i", ""], {}, {2}, "is empty"),
    ("empty-inventory-destroy", ["destroy", "-i", ""], {}, {2}, "is empty"),
    ("empty-inventory-verify", ["verify", "-i", ""], {}, {2}, "is empty"),
    ("empty-inventory-status", ["status", "--json", "-i", ""], {}, {2}, "is empty"),
    ("unknown-inventory", ["validate", "-i", "nosuch"], {}, {2}, "no inventory 'nosuch'"),
    ("unknown-inventory-env", ["validate"], {"PROVISION_INVENTORY": "nosuch"}, {2}, "nosuch"),
    ("unknown-inventory-rebuild", ["rebuild", "-i", "nosuch"], {}, {2}, "no inventory"),
    ("inventory-dev-zero", ["validate", "-i", "/dev/zero"], {}, {2}, "/dev/zero"),
    ("inventory-fifo", ["validate", "-i", "{FIFO}"], {}, {2}, "FIFO"),
    ("inventory-symlink-loop", ["validate", "-i", "{LOOP}"], {}, {2}, "loop"),
    ("inventory-too-big", ["validate", "-i", "{BIG}"], {}, {2}, "larger than"),
    ("inventory-nul", ["validate", "-i", "lab\x00x"], {}, {2}, "NUL"),
    ("inventory-a-file", ["validate", "-i", "{FILE}"], {}, {2}, "no inventory"),
    ("plan-bad-config", ["plan", "-i", "{BAD}"], {}, {2}, "cluster.name"),
    ("kubectl-no-lab", ["kubectl", "-i", "{LAB}", "--", "get", "nodes"], {}, {2}, "kubeconfig"),
    ("render-without-out", ["render", "-i", "{LAB}"], {}, {2}, "--out"),
    ("render-out-is-file", ["render", "-i", "{LAB}", "--out", "{FILE}"], {}, {2}, "is a file"),
    ("render-under-file", ["render", "-i", "{LAB}", "--out", "{FILE}/sub"], {}, {2}, "Not a dir"),
    ("render-in-sys", ["render", "-i", "{LAB}", "--out", "/sys/provision"], {}, {2}, "/sys"),
    ("render-in-proc", ["render", "-i", "{LAB}", "--out", "/proc"], {}, {2}, "/proc"),
    ("render-in-dev", ["render", "-i", "{LAB}", "--out", "/dev/shm/../x"], {}, {2}, "/dev"),
    ("render-out-nul", ["render", "-i", "{LAB}", "--out", "{TMP}/a\x00b"], {}, {2}, "NUL"),
    ("render-out-empty", ["render", "-i", "{LAB}", "--out", ""], {}, {2}, "is empty"),
    ("status-takes-no-wait", ["status", "--wait"], {}, {2}, "--wait"),
    (
        "render-bad-provider",
        ["render", "-i", "{LAB}", "--out", "{OUT}", "--provider", "vmware"],
        {},
        {2},
        "vmware",
    ),
    ("render-bad-config", ["render", "-i", "{BAD}", "--out", "{OUT}"], {}, {2}, "cluster.name"),
    ("up-only-and-from", ["up", "-i", "nosuch", "--only", "x", "--from", "y"], {}, {2}, "nosuch"),
    ("node-add-without-ip", ["node", "add", "w3"], {}, {2}, "--ip"),
    (
        "node-add-cpus-word",
        ["node", "add", "w3", "--ip", "1.2.3.4", "--cpus", "many"],
        {},
        {2},
        "many",
    ),
    ("node-unknown-verb", ["node", "frobnicate"], {}, {2}, "frobnicate"),
    ("node-replace-no-name", ["node", "replace"], {}, {2}, "NAME"),
    ("unknown-command", ["frobnicate"], {}, {2}, "frobnicate"),
    ("unknown-option", ["validate", "--nosuch"], {}, {2}, "--nosuch"),
    ("schema-extra-argument", ["schema", "extra"], {}, {2}, "extra"),
    ("bundle-bad-arch", ["bundle", "fetch", "--arch", "sparc"], {}, {2}, "sparc"),
    ("bundle-unknown-verb", ["bundle", "frobnicate"], {}, {2}, "frobnicate"),
]


@pytest.mark.parametrize(
    ("argv", "env", "codes", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_misuse_is_a_message_and_an_exit_code(places, argv, env, codes, words):
    args = [a.format(**places) for a in argv]
    result = CliRunner().invoke(cli, args, env=env)
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert result.exit_code in codes, result.output
    assert words in result.output, result.output


def test_render_on_a_read_only_file_system_is_a_message(places, monkeypatch):
    import provision.render

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", places["OUT"])

    monkeypatch.setattr(provision.render, "render_all", read_only)
    result = CliRunner().invoke(cli, ["render", "-i", str(LAB), "--out", places["OUT"]])
    assert result.exit_code == 2, result.output
    assert "Read-only file system" in result.output and "fix: " in result.output


def test_an_os_error_anywhere_is_a_message_with_exit_1(places, monkeypatch):
    import provision.config

    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(provision.config, "load", disk_full)
    result = CliRunner().invoke(cli, ["validate", "-i", str(LAB)])
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output and "Traceback" not in result.output


def test_an_internal_error_is_one_line_not_a_traceback(places, monkeypatch):
    import provision.config

    def broken(path):
        raise TypeError("something the code did not expect")

    monkeypatch.setattr(provision.config, "load", broken)
    result = CliRunner().invoke(cli, ["validate", "-i", str(LAB)])
    assert result.exit_code == 1
    assert "internal error: TypeError: something the code did not expect" in result.output
    assert "PROVISION_DEBUG=1" in result.output


@pytest.mark.parametrize("target", ["{FIFO}", "/dev/zero", "{LOOP}"])
def test_the_real_command_neither_hangs_nor_crashes(places, target):
    """The installed entry point, in its own process: a FIFO would block a reader and
    /dev/zero never ends; both are refused before reading."""
    run = subprocess.run(
        [
            sys.executable,
            "-P",
            "-c",
            "from provision.cli import main; main()",
            "validate",
            "-i",
            target.format(**places),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PROVISION_ROOT": str(ROOT)},
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and run.stderr.startswith("error: ")


def test_misuse_table_size():
    assert len(CASES) >= 30
