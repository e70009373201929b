"""Where things live: the project tree, the chosen inventory, state and caches.

The project tree (playbooks/, inventories/, Vagrantfile) is found from the
current directory upwards, or from PROVISION_ROOT. State that must stay out of
git (generated inventory, keys, secrets, run logs, Vagrant's machine records)
lives under $XDG_STATE_HOME/provision/<inventory>; big reusable artifacts under
$XDG_CACHE_HOME/provision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provision.errors import UsageError

DEFAULT_INVENTORY = "lab"


def cli_for(inv_name: str) -> str:
    """How a user names this inventory on the command line: `provision` or
    `provision ... -i NAME` (the hint printed after up)."""
    return "" if inv_name == DEFAULT_INVENTORY else f" -i {inv_name}"


def find_root(start: Path | None = None) -> Path:
    env = os.environ.get("PROVISION_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "inventories").is_dir() and (d / "Vagrantfile").is_file():
            return d
    raise UsageError(
        f"no provision project found in {here} or above (looked for inventories/ and Vagrantfile)\n"
        "  fix: run from the provision checkout, or set PROVISION_ROOT to it"
    )


@dataclass(frozen=True)
class Inventory:
    """One environment: inventories/<name>/ with its cluster.yml."""

    name: str
    dir: Path
    root: Path
    cluster_file: Path

    @property
    def state_dir(self) -> Path:
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(base) / "provision" / self.name

    @property
    def hosts_file(self) -> Path:
        """The generated Ansible inventory: state, never in the work tree."""
        return self.state_dir / "hosts.yml"

    @property
    def cache_dir(self) -> Path:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "provision"


def resolve_inventory(value: str | None) -> Inventory:
    """-i NAME (inventories/NAME), or a path to an inventory dir or its cluster.yml."""
    value = value or os.environ.get("PROVISION_INVENTORY") or DEFAULT_INVENTORY
    path = Path(value)
    if path.suffix in (".yml", ".yaml") or path.is_dir():
        file = (path if path.suffix in (".yml", ".yaml") else path / "cluster.yml").resolve()
        try:
            root = find_root(file.parent)
        except UsageError:
            root = find_root()
        return Inventory(file.parent.name, file.parent, root, file)
    root = find_root()
    directory = root / "inventories" / value
    if not directory.is_dir():
        known = sorted(p.name for p in (root / "inventories").iterdir() if p.is_dir())
        raise UsageError(
            f"no inventory '{value}' in {root / 'inventories'}\n"
            f"  fix: use one of: {', '.join(known) or '(none)'}, or pass a path to a cluster.yml"
        )
    return Inventory(value, directory, root, directory / "cluster.yml")
