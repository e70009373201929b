"""The phases of `provision up`, in order: the flow made explicit.

One module per phase (its name, what it does, what it changes for a config, its
playbook and how it runs); this list is the pipeline. `up` runs it, node
operations run parts of it (provision/node_ops.py), `plan` prints it. Adding a
phase: a module here beside the others, and its place in PHASES.
"""

from __future__ import annotations

from provision.errors import UsageError
from provision.phases.addons import Addons
from provision.phases.base import Phase
from provision.phases.control_plane import ControlPlane
from provision.phases.join import Join
from provision.phases.kubernetes import Kubernetes
from provision.phases.machines import Machines
from provision.phases.network import Network
from provision.phases.prepare import Prepare
from provision.phases.runtime import Runtime
from provision.phases.verify import Verify

PHASES: tuple[Phase, ...] = (
    Machines(),
    Prepare(),
    Runtime(),
    Kubernetes(),
    ControlPlane(),
    Network(),
    Join(),
    Addons(),
    Verify(),
)

PHASE_NAMES = tuple(p.name for p in PHASES)

# The phase that runs each playbook: what the convergence stamps need to know of it.
BY_PLAYBOOK = {p.playbook: p for p in PHASES if p.playbook}


def phase(name: str) -> Phase:
    """The phase of a name (an unknown one refused as chosen() refuses it)."""
    chosen([name])
    return PHASES[PHASE_NAMES.index(name)]


def chosen(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Phase names in pipeline order (an unknown one refused, naming the choices)."""
    unknown = [n for n in names if n not in PHASE_NAMES]
    if unknown:
        raise UsageError(
            f"unknown phase {', '.join(unknown)}\n  fix: use phases from: {', '.join(PHASE_NAMES)}"
        )
    return tuple(n for n in PHASE_NAMES if n in names)
