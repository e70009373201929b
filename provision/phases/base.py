"""What a phase of `provision up` is: one class with its name, what it does, what
it will change for a config (`provision plan` prints it), the playbook it runs and
the facts the convergence stamps need about that playbook, and `run`.

A phase gets the running `up` (provision/up.py) as its context, the `Context`
below: the lab's inventory, config, log, machines, and `playbook`, which runs a
playbook unless it converged on every node.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from provision.config.model import ClusterConfig
from provision.machines.base import Machines
from provision.playbooks.result import PlaybookResult
from provision.project import Inventory
from provision.runlog import RunLog


class Context(Protocol):
    """What a phase may use of the run it is part of."""

    inv: Inventory
    config: ClusterConfig
    log: RunLog
    machines: Machines
    # machines this run started again, and when (verify lets them settle first)
    restarted: list[str]
    restarted_at: float
    verify_results: list[Any]

    def playbook(self, name: str, extra: dict | None = None) -> PlaybookResult: ...

    def refresh_inventory(self, endpoints: dict | None = None) -> None: ...


class Phase:
    name: ClassVar[str]
    summary: ClassVar[str]
    # the playbook the phase runs (playbooks/<name>), or None
    playbook: ClassVar[str | None] = None
    # its tasks change only the host they run on: it runs on the nodes that need it,
    # not on every node once one does (provision/playbooks/converged.py)
    node_local: ClassVar[bool] = False
    # the services it starts and starts again when they stop: its stamp names them
    starts: ClassVar[tuple[str, ...]] = ()

    def changes(self, config: ClusterConfig, provider: str) -> str:
        raise NotImplementedError

    def run(self, up: Context) -> None:
        if self.playbook is None:
            raise NotImplementedError(f"phase {self.name} runs no playbook: it needs a run()")
        up.playbook(self.playbook)


def nodes(c: ClusterConfig) -> str:
    return ", ".join(n.name for n in c.nodes)
