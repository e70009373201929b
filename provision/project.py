"""Where things live: the project tree, the chosen inventory, state and caches.

The project tree (playbooks/, inventories/, Vagrantfile) is found from the
current directory upwards, or from PROVISION_ROOT. State that must stay out of
git (generated inventory, keys, secrets, run logs, Vagrant's machine records)
lives under $XDG_STATE_HOME/provision/<inventory>-<hash of its folder>; big reusable
artifacts under $XDG_CACHE_HOME/provision.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from provision.errors import HostError, UsageError
from provision.files import read_json, refuse, write_state

DEFAULT_INVENTORY = "lab"


def cli_for(inv_name: str) -> str:
    """How a user names this inventory on the command line: `provision` or
    `provision ... -i NAME` (the hint printed after up)."""
    return "" if inv_name == DEFAULT_INVENTORY else f" -i {inv_name}"


def xdg_dir(variable: str, default: Path) -> Path:
    """An XDG base directory: its variable when set to an absolute path; a relative or
    empty value is ignored, as the XDG Base Directory spec says."""
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else default


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


def role_default(role: str, key: str, what: str):
    """`key` from playbooks/roles/<role>/defaults/main.yml of the checkout (also
    after `pip install .`): a list the roles and provision share, kept in one
    place. Ansible's `!unsafe` strings load as plain strings. `what` names the
    reader in the error."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def unsafe(loader: Loader, node: yaml.ScalarNode) -> str:
        return loader.construct_scalar(node)

    Loader.add_constructor("!unsafe", unsafe)
    defaults = find_root() / "playbooks" / "roles" / role / "defaults" / "main.yml"
    try:
        return yaml.load(defaults.read_text(), Loader=Loader)[key]
    except (OSError, KeyError, TypeError) as e:
        raise HostError(
            f"{what}: cannot read {key} from {defaults} ({e})\n"
            "  fix: run provision from its checkout, or set PROVISION_ROOT to it"
        ) from e


@dataclass(frozen=True)
class Inventory:
    """One environment: inventories/<name>/ with its cluster.yml."""

    name: str
    dir: Path
    root: Path
    cluster_file: Path

    @property
    def state_dir(self) -> Path:
        """<inventory name>-<hash of its folder's path>: two checkouts, or two
        inventory folders of the same name, never share state."""
        base = xdg_dir("XDG_STATE_HOME", Path.home() / ".local" / "state")
        where = hashlib.sha256(str(self.dir.resolve()).encode()).hexdigest()[:8]
        return Path(base) / "provision" / f"{self.name}-{where}"

    @property
    def owner_file(self) -> Path:
        """Which cluster.yml this state belongs to (see claim_state)."""
        return self.state_dir / "owner.json"

    def check_state_dir(self) -> None:
        """The state directory, when there is one, is a directory of this user that no
        one else can write to (it holds keys, secrets and what Ansible runs)."""
        try:
            info = os.lstat(self.state_dir)
        except FileNotFoundError:
            return
        where = self.state_dir
        if not stat.S_ISDIR(info.st_mode):
            raise UsageError(
                f"{where} is not a directory (a link or a file)\n"
                f"  fix: move it away (`mv {where} {where}.old`) and run the command again"
            )
        if info.st_uid != os.geteuid():
            raise UsageError(
                f"{where} belongs to user {info.st_uid}, not to you ({os.geteuid()})\n"
                "  fix: run provision as that user, or set XDG_STATE_HOME to a folder of yours"
            )
        if info.st_mode & 0o022:
            raise UsageError(
                f"{where} can be written by others (mode {stat.S_IMODE(info.st_mode):o})\n"
                f"  fix: chmod go-w {where}"
            )

    def claim_state(self, cluster_name: str, makes_machines: bool) -> None:
        """Record that this state is this cluster.yml's, after making sure that no other
        lab's machines carry the same names.

        Vagrant names machines (containers, VMs, networks) after cluster.name: two
        inventories with the same cluster name would fight over them. Refused while
        the other lab's cluster.yml exists and it has not been destroyed (`destroy`
        releases the claim). Existing hosts (kind ssh) are named by nobody."""
        self.check_state_dir()
        mine = str(self.cluster_file.resolve())
        record = {"cluster_file": mine, "cluster": cluster_name, "makes_machines": makes_machines}
        recorded = read_owner(self.owner_file)  # this lab's: a bad one is refused
        for other in sorted(self.state_dir.parent.glob("*/owner.json")):
            if other.parent == self.state_dir:
                continue
            try:
                theirs = read_owner(other)
            except UsageError:
                continue  # unreadable (a FIFO, a link, not a record): it names no machines
            if (
                makes_machines
                and theirs
                and theirs["makes_machines"]
                and theirs["cluster"] == cluster_name
                and theirs["cluster_file"] != mine
                and Path(theirs["cluster_file"]).is_file()
            ):
                raise UsageError(
                    f"cluster name {cluster_name!r} is already used by the lab of "
                    f"{theirs['cluster_file']} (state {other.parent}): its machines are "
                    "named after it\n"
                    f"  fix: set another cluster.name in {mine}, or run `provision destroy -i "
                    f"{theirs['cluster_file']}` first"
                )
        if recorded != record:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_state(self.owner_file, json.dumps(record) + "\n")

    def release_state(self) -> None:
        """After destroy: nothing of this lab is left to share."""
        self.owner_file.unlink(missing_ok=True)

    @property
    def hosts_file(self) -> Path:
        """The generated Ansible inventory: state, never in the work tree."""
        return self.state_dir / "hosts.yml"

    @property
    def addons_dir(self) -> Path:
        """The add-on manifests rendered from the config (the addons phase writes
        them, verify dry-runs the validate-only ones)."""
        return self.state_dir / "addons"

    @property
    def cache_dir(self) -> Path:
        base = xdg_dir("XDG_CACHE_HOME", Path.home() / ".cache")
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


def read_owner(path: Path) -> dict | None:
    """An owner record, or None when there is none; UsageError for a file that is not
    one (not a small regular file of JSON with the three fields claim_state writes)."""
    data = read_json(path, "the lab's owner record")
    if data is None:
        return None
    if not (
        all(isinstance(data.get(k), str) for k in ("cluster_file", "cluster"))
        and isinstance(data.get("makes_machines"), bool)
    ):
        raise refuse(
            path,
            "the lab's owner record",
            "not the record provision writes (cluster_file, cluster, makes_machines)",
            f"remove it (`rm {path}`) and run the command again",
        )
    return {k: data[k] for k in ("cluster_file", "cluster", "makes_machines")}
