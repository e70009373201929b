"""destroy removes what the lab kept in its state directory, an unfinished
operation's record included (the lab it was putting back is gone), and keeps the
run logs."""

from __future__ import annotations

from pathlib import Path

from provision import destroy
from provision.project import Inventory


class Machines:
    destroyed = False

    def destroy(self) -> None:
        Machines.destroyed = True


def test_destroy_drops_the_lab_state_and_an_unfinished_operation(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr("provision.machines.factory.machines_for", lambda *a: Machines())
    inv = Inventory("lab", tmp_path / "inv", tmp_path, tmp_path / "inv" / "cluster.yml")
    state = inv.state_dir
    (state / "runs" / "r1").mkdir(parents=True)
    (state / "secrets").write_text("{}")
    (state / "operation.json").write_text('{"operation": "restore", "archive": "/x.tar.gz"}')
    (state / "phases.json").write_text("{}")

    destroy.destroy_lab(inv, None, None)  # type: ignore[arg-type]

    assert Machines.destroyed
    assert not (state / "operation.json").exists()
    assert not (state / "secrets").exists() and not (state / "phases.json").exists()
    assert (state / "runs" / "r1").is_dir()
    assert Path(state).is_dir()
