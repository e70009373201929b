"""The scripts provision runs on nodes are files that pass ShellCheck, and the
restore's MySQL script really loads a dump with the first password MySQL takes
(here against a stand-in `mysql` on PATH that records what it got)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provision.addons.registry import ADDONS, by_name
from provision.node_scripts import NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "provision"
SCRIPTS = sorted((*PACKAGE.glob("node_scripts/*.sh"), *PACKAGE.glob("addons/*/*.sh")))


def test_every_script_is_named_by_its_reader():
    named = {PACKAGE / "node_scripts" / n for n in NAMES} | {
        PACKAGE / "addons" / a.name / d.load for a in ADDONS for d in a.data
    }
    assert set(SCRIPTS) == named


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_script_passes_shellcheck(path):
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed: scripts/host-setup-tests installs it")
    run = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_mysql_load_uses_the_password_mysql_accepts(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    got = tmp_path / "got"
    # a stand-in mysql: accepts only the password "lab", records the statements
    (bin_dir / "mysql").write_text(
        "#!/bin/sh\n"
        '[ "$MYSQL_PWD" = lab ] || exit 1\n'
        'case "$*" in *"-e SELECT 1"*) exit 0;; esac\n'
        f"cat >> {got}\n"
    )
    (bin_dir / "mysql").chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"

    def load(pod_password: str, stdin: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": path, "MYSQL_ROOT_PASSWORD": pod_password}
        return subprocess.run(
            ["sh", "-c", by_name("mysql").script("load.sh")],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
        )

    run = load("pod", "lab\nCREATE TABLE t (i INT);\n")
    assert run.returncode == 0, run.stderr
    assert got.read_text() == "CREATE TABLE t (i INT);\nFLUSH PRIVILEGES;\n"
    refused = load("wrong", "also-wrong\n")
    assert refused.returncode == 1 and "neither" in refused.stderr
