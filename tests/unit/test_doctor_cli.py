"""`provision doctor` run for real on this host: a missing tool is a PROBLEM with its
fix, and the command exits 3 (README's table of exit codes)."""

from __future__ import annotations

import os

from tests.conftest import provision


def test_doctor_finds_a_missing_vagrant_and_exits_3(tmp_path):
    """PATH holds no vagrant (nor anything else): the real checks look for it."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "XDG_STATE_HOME": str(tmp_path / "state")}
    out = provision("doctor", env={**env, "COLUMNS": "200"}, check=False)  # a row a line
    assert out.returncode == 3, out
    rows = [line for line in out.stdout.splitlines() if "vagrant" in line]
    assert any("PROBLEM" in r and "not found" in r and "scripts/host-setup" in r for r in rows), (
        out.stdout
    )
    assert "problem(s); run the fixes above" in out.stderr, out.stderr
