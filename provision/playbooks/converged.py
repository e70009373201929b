"""`up` does not run a playbook again on nodes where it has already converged.

After a playbook succeeds on every node, each node gets a stamp:
/var/lib/provision/converged/<playbook> holds a digest of everything the run
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
import shlex
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from provision.project import Inventory
from provision.runlog import RunLog

STAMP_DIR = "/var/lib/provision/converged"
# The services a stamp can name: those the node playbooks start and keep running.
UNITS = ("containerd", "docker", "cri-docker", "kubelet")

READ_STAMPS = (
    f"d={STAMP_DIR}\n"
    'for f in "$d"/*.yml; do\n'
    '  [ -f "$f" ] && printf "stamp %s %s\\n" "${f##*/}" "$(cat "$f")"\n'
    "done\n"
    f"for u in {' '.join(UNITS)}; do "
    'printf "unit %s %s\\n" "$u" "$(systemctl is-active "$u" 2>/dev/null)"; done\n'
    "true"
)


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
    _hash_path(h, hosts_file)
    return h.hexdigest()


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


def stamp_command(playbook: str, digest: str) -> str:
    """The shell command that stamps `playbook` with `digest` and the running units."""
    path = shlex.quote(f"{STAMP_DIR}/{playbook}")
    return (
        f"install -d -m 0755 {STAMP_DIR} && units=$(for u in {' '.join(UNITS)}; do "
        'systemctl is-active --quiet "$u" 2>/dev/null && printf "%s," "$u"; done; true) && '
        f'printf "%s %s\\n" {shlex.quote(digest)} "$units" > {path}.part && '
        f"mv {path}.part {path}"
    )


class Converged:
    """The stamps of one `up`: read once, then asked per playbook."""

    def __init__(self, inv: Inventory, log: RunLog, enabled: bool = True):
        self.inv = inv
        self.log = log
        # why every playbook runs from now on, or None while stamps are asked
        self.off: str | None = None if enabled else "--full"
        self._nodes: dict[str, NodeStamps] | None = None

    def _on_every_node(self, command: str) -> dict[str, str]:
        from provision.inventory import read_endpoints
        from provision.remote import shells

        names = {n: n for n in read_endpoints(self.inv.hosts_file)}
        with shells(self.inv, names) as sh, ThreadPoolExecutor(len(names) or 1) as pool:
            futures = {n: pool.submit(sh[n], command) for n in names}
            return {n: f.result() for n, f in futures.items()}

    def nodes(self) -> dict[str, NodeStamps]:
        if self._nodes is None:
            self._nodes = {
                n: NodeStamps.parse(out) for n, out in self._on_every_node(READ_STAMPS).items()
            }
        return self._nodes

    def why_run(self, playbook: str, digest: str) -> str | None:
        """None when `playbook` may be skipped, else why it runs."""
        if self.off:
            return self.off
        try:
            nodes = self.nodes()
        except Exception as e:  # a node we cannot read: run the playbook, it will say why
            return f"stamps not read ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        if not nodes:
            return "no nodes"
        reasons = {n: s.why_not(playbook, digest) for n, s in nodes.items()}
        missing = {n: r for n, r in reasons.items() if r}
        if missing:
            return "; ".join(f"{n}: {r}" for n, r in sorted(missing.items()))
        return None

    def ran(self) -> None:
        """A playbook ran: every later one runs too."""
        self.off = self.off or "an earlier playbook ran"

    def stamp(self, playbook: str, digest: str) -> None:
        self._on_every_node(stamp_command(playbook, digest))

    def unstamp(self, playbook: str) -> None:
        """Best effort after a failed run: a node that cannot be reached keeps its
        stamp, which then names the services that must run there."""
        try:
            self._on_every_node(f"rm -f {shlex.quote(f'{STAMP_DIR}/{playbook}')}")
        except Exception as e:
            self.log.write(f"  stamps of {playbook} not removed everywhere: {e}")
