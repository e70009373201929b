"""The one life cycle of a command over a config (molecule's pattern): the click
function parses its options and hands them to a Command, which loads the config and
executes.

A Command is read-only: it opens no run directory and leaves `runs/latest` alone
(status, plan, validate, render, doctor, kubectl, bundle check). A RunCommand
changes something: it opens a run (a log under the state directory), prints a banner
naming the log, executes, then says what it finished. Ctrl-C or SIGTERM (see
interrupts.py, installed for every command by the group) ends a RunCommand with the
hint to run it again, exit 130; up's own handling records the phase as interrupted.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from provision.cli.common import console, load_config, wait_timeout, wants_wait
from provision.errors import INTERRUPTED

if TYPE_CHECKING:
    from provision.runlog import RunLog


class Command:
    def __init__(self, inventory: str | None) -> None:
        self.inv, self.config = load_config(inventory)

    def execute(self) -> None:
        raise NotImplementedError

    def main(self) -> None:
        self.execute()


class RunCommand(Command):
    run_name: str  # the run directory's suffix, e.g. "node-reset"
    log: RunLog
    # One changing command at a time per lab (provision/lock.py); verify and the
    # bundle's commands change no lab.
    locks_lab = True

    def title(self) -> str:
        """The banner's words for this command, e.g. "node reset w1"."""
        return self.run_name

    def banner(self) -> str:
        """What runs on which config; the log's path follows."""
        config, file = self.config, self.inv.cluster_file
        return f"provision {self.title()}: cluster {config.cluster.name} ({file})"

    def done(self) -> None:
        """The closing lines, once execute returned."""

    def main(self) -> None:
        from provision.lock import lab_lock

        if not self.locks_lab:
            self._main()
            return

        def say(line: str) -> None:
            console(stderr=True).print(line, markup=False)

        with lab_lock(
            self.inv.state_dir, self.title(), wait=wants_wait(), say=say, timeout=wait_timeout()
        ):
            self._main()

    def _main(self) -> None:
        from provision.runlog import RunLog

        if self.locks_lab:
            # a command that changes the lab claims its cluster name (machines are named
            # after it); verify and the bundle's commands use the name, never claim it
            self.inv.claim_state(self.config.cluster.name, self.config.machines.made_here)
        else:
            self.inv.check_state_dir()
            self.inv.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log = RunLog(self.inv.state_dir, self.run_name, console())
        self.log.say(f"{self.banner()}; log {self.log.path}")
        try:
            self.execute()
        except KeyboardInterrupt:
            self.log.say(
                "interrupted: run the same command again to continue, or `provision destroy` "
                "to remove what was made",
                style="yellow",
            )
            sys.exit(INTERRUPTED)
        self.done()
