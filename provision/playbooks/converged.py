"""`up` does not run a playbook again on nodes where it has already converged.

After a playbook succeeds on every node, each node gets a stamp:
<STAMP_DIR>/<playbook> holds a digest of everything the run
depended on (the playbooks tree, the extra vars and the files they name, the
inventory) and the services that were running when it ended. The next `up`
reads every node's stamps with one command per node; a playbook is skipped
when every node holds a stamp with this run's digest and every service its
stamp names still runs. Anything else runs it: a new or reset machine (no
stamps), an edited role or config, a stopped kubelet. Once one playbook runs,
every later one runs too, since it may depend on what changed.

This is what makes a no-op `up` cheap: a dozen "already done" tasks per phase
become one stamp comparison. Drift a stamp cannot see (a config file edited by
hand) is repaired by `up --full`, which runs every playbook, as the tests of
idempotency do. The verify phase always runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import yaml

from provision.files import read_small
from provision.node_scripts import SCRIPT_DIR
from provision.project import Inventory
from provision.runlog import RunLog
from provision.shared import CONVERGED_DIR

STAMP_DIR = CONVERGED_DIR  # provision/shared_defaults.yml, as node reset has it
# The services a stamp can name: those the node playbooks start and keep running.
# Which playbook starts which is the phase's fact (`Phase.starts`): its stamp names
# those of them that ran when it ended, so a stopped service makes the playbook
# that starts it run again, not every playbook stamped after it started.
UNITS = ("containerd", "docker", "cri-docker", "kubelet")

# provision/node_scripts/stamps.sh on the node reads, writes and removes the stamps.
STAMPS = f"{SCRIPT_DIR}/stamps.sh"
READ_STAMPS = (STAMPS, "read", STAMP_DIR, *UNITS)


def _hash_path(h, path: Path) -> None:
    if path.is_file():
        h.update(path.read_bytes())
    elif path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes())


# Extra vars whose paths do not count: the bundle (counted by its manifest's
# sha256, bundle_manifest_sha256) and where a playbook writes (`*_dest`).
UNCOUNTED = ("bundle_dir",)


def _named_paths(value) -> Iterable[Path]:
    """Absolute paths named by the extra vars (manifests, configs): their content counts."""
    if isinstance(value, str) and value.startswith("/"):
        yield Path(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in UNCOUNTED and not str(k).endswith("_dest"):
                yield from _named_paths(v)
    elif isinstance(value, list):
        for v in value:
            yield from _named_paths(v)


def inputs_digest(root: Path, playbook: str, extravars: dict, hosts_file: Path) -> str:
    """sha256 of what a run of `playbook` depends on, on the operator's side."""
    h = hashlib.sha256(f"{playbook}\0".encode())
    _hash_path(h, root / "playbooks")
    h.update(json.dumps(extravars, sort_keys=True, default=str).encode())
    for path in sorted(set(_named_paths(extravars))):
        h.update(str(path).encode())
        _hash_path(h, path)
    raw = read_small(hosts_file, "the generated inventory", "run `provision up --only machines`")
    h.update(json.dumps(_inventory_shape(yaml.safe_load(raw or b"")), sort_keys=True).encode())
    return h.hexdigest()


def _inventory_shape(value):
    """The inventory without how Ansible reaches each node (`ansible_*`: address,
    SSH port, login, key): a machine made again on another port is the same node."""
    if isinstance(value, dict):
        return {
            k: _inventory_shape(v) for k, v in value.items() if not str(k).startswith("ansible_")
        }
    if isinstance(value, list):
        return [_inventory_shape(v) for v in value]
    return value


@dataclass
class NodeStamps:
    """What one node's stamps say: {playbook: (digest, units)} and its active units."""

    stamps: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    active: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> NodeStamps:
        found = cls()
        active = set()
        for line in text.splitlines():
            kind, _, rest = line.partition(" ")
            name, _, value = rest.partition(" ")
            if kind == "stamp":
                digest, _, units = value.strip().partition(" ")
                found.stamps[name] = (digest, frozenset(u for u in units.split(",") if u))
            elif kind == "unit" and value.strip() == "active":
                active.add(name)
        found.active = frozenset(active)
        return found

    def why_not(self, playbook: str, digest: str) -> str | None:
        """None when `playbook` converged here with these inputs, else the reason."""
        stamp = self.stamps.get(playbook)
        if stamp is None:
            return "no stamp"
        if stamp[0] != digest:
            return "inputs changed"
        stopped = sorted(stamp[1] - self.active)
        if stopped:
            return f"{', '.join(stopped)} not running"
        return None


def stamp_command(playbook: str, digest: str, starts: tuple[str, ...] = ()) -> list[str]:
    """The command (argv) that stamps `playbook` with `digest` and those of the units
    it starts (`starts`, of UNITS) that are running."""
    unknown = set(starts) - set(UNITS)
    if unknown:
        raise ValueError(f"a stamp names only {', '.join(UNITS)}, not {', '.join(unknown)}")
    return [STAMPS, "write", STAMP_DIR, playbook, digest, *starts]


class Why(Enum):
    """Why a playbook runs."""

    FULL = "--full"  # up --full, or a node operation: every playbook runs
    EARLIER = "an earlier playbook ran"  # on every node, after one that acts on the cluster
    NODES = "nodes"  # some nodes need it (no stamp, other inputs, a stopped service)
    UNREAD = "stamps not read"  # a node whose stamps could not be read


@dataclass(frozen=True)
class Decision:
    """Where a playbook runs: `hosts` (empty: nowhere, it converged), why, and the
    nodes' reasons (`detail`).

    A node-local playbook (`Phase.node_local`: its tasks change only the host they
    run on) runs on the nodes that need it (no stamp, other inputs, a stopped
    service, or an earlier playbook of this run ran there), not on every node.
    Every other playbook acts on the cluster (kubeadm, Calico, the probe, the
    add-ons) and runs on every node once one node needs it."""

    hosts: tuple[str, ...]
    why: Why | None = None
    detail: str = ""
    every: bool = True  # hosts are every node (no --limit)
    node_local: bool = False


class Converged:
    """The stamps of one `up`: read once, then asked per playbook."""

    def __init__(self, inv: Inventory, log: RunLog, enabled: bool = True):
        self.inv = inv
        self.log = log
        # why every playbook runs on every node from now on, or None
        self.off: Why | None = None if enabled else Why.FULL
        self.touched: set[str] = set()  # nodes an earlier playbook of this run ran on
        self._nodes: dict[str, NodeStamps] | None = None

    def names(self) -> list[str]:
        from provision.inventory import read_endpoints

        return list(read_endpoints(self.inv.hosts_file) or {})

    def _on_nodes(self, command: Sequence[str], names: Iterable[str] = ()) -> dict[str, str]:
        from provision.remote import shells

        chosen = {n: n for n in (list(names) or self.names())}
        with shells(self.inv, chosen) as sh, ThreadPoolExecutor(len(chosen) or 1) as pool:
            futures = {n: pool.submit(sh[n], command) for n in chosen}
            return {n: f.result() for n, f in futures.items()}

    def nodes(self) -> dict[str, NodeStamps]:
        if self._nodes is None:
            self._nodes = {
                n: NodeStamps.parse(out) for n, out in self._on_nodes(READ_STAMPS).items()
            }
        return self._nodes

    def decide(self, playbook: str, digest: str, node_local: bool = False) -> Decision:
        """Where `playbook` runs in this `up`, and why."""
        every = tuple(self.names())
        if self.off:
            return Decision(every, self.off, self.off.value, node_local=node_local)
        try:
            nodes = self.nodes()
        except Exception as e:  # a node we cannot read: run the playbook, it will say why
            error = str(e).splitlines()[0] if str(e) else type(e).__name__
            return Decision(
                every, Why.UNREAD, f"{Why.UNREAD.value} ({error})", node_local=node_local
            )
        reasons = {n: s.why_not(playbook, digest) for n, s in nodes.items()}
        reasons.update({n: "an earlier playbook ran here" for n in self.touched})
        need = {n: r for n, r in reasons.items() if r}
        why = "; ".join(f"{n}: {r}" for n, r in sorted(need.items()))
        if not need:
            return Decision(())
        if node_local and set(need) != set(every):
            hosts = tuple(n for n in every if n in need)
            return Decision(hosts, Why.NODES, why, every=False, node_local=True)
        return Decision(every, Why.NODES, why, node_local=node_local)

    def ran(self, decision: Decision) -> None:
        """A playbook ran: a node-local one on some nodes makes later ones run
        there; any other makes every later one run on every node."""
        if decision.node_local and not decision.every:
            self.touched.update(decision.hosts)
        else:
            self.off = self.off or Why.EARLIER

    def stamp(
        self, playbook: str, digest: str, hosts: Iterable[str], starts: tuple[str, ...] = ()
    ) -> None:
        self._on_nodes(stamp_command(playbook, digest, starts), hosts)

    def unstamp(self, playbook: str, hosts: Iterable[str]) -> None:
        """Best effort after a failed run: a node that cannot be reached keeps its
        stamp, which then names the services that must run there."""
        try:
            self._on_nodes([STAMPS, "remove", STAMP_DIR, playbook], hosts)
        except Exception as e:
            self.log.write(f"  stamps of {playbook} not removed everywhere: {e}")
