"""A node's shell run here, for unit tests of what provision runs on nodes: argv run
as NodeShell runs it on a node, with provision's node scripts taken from the package
(SCRIPT_DIR/<name> is provision/node_scripts/<name>, run by bash) and the node paths
given in `moves` put under a directory of the test's. Commands a test stands in
for (systemctl, kubectl) are scripts on `path`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from provision.node_scripts import SCRIPT_DIR
from provision.remote import RemoteFailed

PACKAGE = Path(__file__).resolve().parents[2] / "provision"


def stand_in(bin_dir: Path, name: str, text: str) -> None:
    """An executable shell script `name` in bin_dir."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text("#!/bin/sh\n" + text)
    (bin_dir / name).chmod(0o755)


class LocalShell:
    def __init__(
        self,
        bin_dir: Path | None = None,
        moves: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ):
        path = f"{bin_dir}:{os.environ['PATH']}" if bin_dir else os.environ["PATH"]
        self.env = {**os.environ, **(env or {}), "PATH": path}
        self.moves = moves or {}
        self.commands: list[list[str]] = []

    def _here(self, arg: str) -> str:
        if arg.startswith(SCRIPT_DIR + "/"):
            return str(PACKAGE / "node_scripts" / arg.removeprefix(SCRIPT_DIR + "/"))
        for there, here in self.moves.items():
            arg = arg.replace(there, here)
        return arg

    def __call__(self, argv: Sequence[str], timeout: int = 600, check: bool = True) -> str:
        assert not isinstance(argv, str), "a node command is argv"
        self.commands.append(list(argv))
        args = [self._here(a) for a in argv]
        if args[0].startswith(str(PACKAGE)):
            args.insert(0, "bash")
        run = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if run.returncode != 0 and check:
            raise RemoteFailed((run.stderr.strip() or f"exit {run.returncode}")[-400:])
        return run.stdout
