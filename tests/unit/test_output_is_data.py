"""Text from files, configs and the environment is printed as data: no rich markup, no
raw terminal control sequences, and an ASCII-only output stream gets escapes, not a
crash. The real command in its own process, its output read back byte for byte."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLI, ROOT

HOSTILE_DIR = "inv-[/bold]-\x1b[2J-é"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300", **env},
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def hostile_config(lab, tmp_path) -> str:
    """The default lab in a folder whose name holds markup, an escape sequence and a
    non-ASCII letter: every message naming the file carries them."""
    folder = tmp_path / HOSTILE_DIR
    folder.mkdir(parents=True)  # the "/" of "[/bold]" makes two folders
    (folder / "cluster.yml").write_text(yaml.safe_dump(lab, sort_keys=False))
    return str(folder / "cluster.yml")


def test_an_error_naming_the_file_prints_its_markup_as_text_and_no_escape(hostile_config, tmp_path):
    config = Path(hostile_config)
    config.write_text(config.read_text().replace("cpus: 2", "cpus: -1", 1))
    out = run("validate", "-i", hostile_config, XDG_STATE_HOME=str(tmp_path / "s"))
    assert out.returncode == 2, out
    err = out.stderr.decode()
    assert "[/bold]" in err, err
    assert "\x1b" not in err and "\\x1b[2J" in err, err


def test_plan_prints_the_path_as_data(hostile_config, tmp_path):
    out = run("plan", "-i", hostile_config, XDG_STATE_HOME=str(tmp_path / "s"))
    assert out.returncode == 0, out
    text = out.stdout.decode()
    assert "[/bold]" in text and "\x1b[2J" not in text, text


def test_an_ascii_only_stream_gets_escapes_not_a_crash(hostile_config, tmp_path):
    out = run(
        "plan", "-i", hostile_config, XDG_STATE_HOME=str(tmp_path / "s"), PYTHONIOENCODING="ascii"
    )
    assert out.returncode == 0, out
    out.stdout.decode("ascii")  # every byte ASCII
    assert b"\\xe9" in out.stdout or b"?" in out.stdout, out.stdout
