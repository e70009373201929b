import copy
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provision.project import resolve_inventory, xdg_dir

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "inventories" / "lab" / "cluster.yml"
# The `provision` command the README's `pip install .` puts beside this Python: run as a
# user runs it, it imports the installed package, never the source tree (`python -m`
# would put the working directory first on sys.path).
CLI = Path(sys.executable).with_name("provision")
if not CLI.is_file():
    raise RuntimeError(f"no {CLI}: install provision into this venv first (`pip install .`)")


def provision(
    *args: str,
    check: bool = True,
    timeout: float = 1800,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run the real `provision` CLI from the project root, as a user would (in this
    environment, or `env`, with `input` on stdin); with check, a non-zero exit fails
    the test with both outputs."""
    started = time.monotonic()
    out = subprocess.run(
        [str(CLI), *args],
        cwd=ROOT,
        env=env,
        input=input,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    print(f"provision {' '.join(args)}: exit {out.returncode}, {time.monotonic() - started:.0f} s")
    if check and out.returncode != 0:
        pytest.fail(
            f"provision {' '.join(args)} exited {out.returncode}\n{out.stdout}\n{out.stderr}"
        )
    return out


@dataclass(frozen=True)
class SuiteLab:
    """A lab of a suite's own, so a user's lab on the same host is never touched: the
    config of a tracked inventory (read, never edited) with its own cluster name, node
    addresses, pod and service ranges, written to a fixed place outside the work tree
    (its state dir is the same from run to run, so a lab left by a killed run is
    destroyed by the next)."""

    name: str  # the cluster name: machines, volumes and networks are named by it
    base: str  # the inventory it is made from (inventories/<base>/cluster.yml)
    net: int  # nodes on 192.168.<net>.0/24, pods on 10.<net>.0.0/17, services 10.<net>.128.0/17
    nodes: tuple[str, ...] | None = None  # only these of the base's nodes (all when None)
    # settings other than the base's: dotted path -> value, e.g. ("versions.kubernetes", "1.34.4")
    overrides: tuple[tuple[str, object], ...] = ()

    @property
    def config(self) -> Path:
        root = xdg_dir("XDG_CACHE_HOME", Path.home() / ".cache") / "provision" / "test-labs"
        return root / self.name / "cluster.yml"

    def ip(self, node: str | int) -> str:
        """A node's address: by name (cp1, w1, w2, ...: 10, 11, 12) or by last octet."""
        if isinstance(node, str):
            node = 10 if node.startswith("cp") else 10 + int(node.lstrip("w"))
        return f"192.168.{self.net}.{node}"

    def container(self, node: str) -> str:
        """The docker provider's container of a node."""
        return f"{self.name}-{node}"

    def data(self) -> dict:
        data = yaml.safe_load((ROOT / "inventories" / self.base / "cluster.yml").read_text())
        data["cluster"]["name"] = self.name
        if self.nodes is not None:
            data["nodes"] = [n for n in data["nodes"] if n["name"] in self.nodes]
        for node in data["nodes"]:
            node["ip"] = self.ip(node["name"])
        for path, value in self.overrides:
            *parents, key = path.split(".")
            table = data
            for part in parents:
                table = table.setdefault(part, {})
            table[key] = value
        net = data["network"]
        net["node_subnet"] = f"192.168.{self.net}.0/24"
        net["pod_cidr"] = f"10.{self.net}.0.0/17"
        net["service_cidr"] = f"10.{self.net}.128.0/17"
        return data

    def write(self) -> Path:
        """The config file, written only when it differs (an unchanged file keeps its
        lab)."""
        text = yaml.safe_dump(self.data(), sort_keys=False)
        self.config.parent.mkdir(parents=True, exist_ok=True)
        if not self.config.is_file() or self.config.read_text() != text:
            self.config.write_text(text)
        return self.config


def hosts_file(inventory: str | None = None) -> Path:
    """The Ansible inventory `up` generated for -i `inventory` (a name or a cluster.yml;
    the suite's own lab when None)."""
    return resolve_inventory(inventory).hosts_file


def inventory_hosts(inventory: str | None = None) -> dict:
    """The generated inventory's hosts, by node name."""
    data = yaml.safe_load(hosts_file(inventory).read_text())
    groups = data["all"]["children"]["k8s_cluster"]["children"]
    return {name: host for g in groups.values() for name, host in (g["hosts"] or {}).items()}


def bundle_source_by_host(playbook_dir: Path) -> dict[str, bool]:
    """{host: bundle_source_local} as the role bundle_source decided it in one playbook run
    (`<run>/ansible-<playbook>`): True when the node read the mounted bundle."""
    import json

    found = {}
    for path in playbook_dir.glob("artifacts/*/job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        facts = (data.get("res") or {}).get("ansible_facts") or {}
        if event.get("event") == "runner_on_ok" and "bundle_source_local" in facts:
            found[data["host"]] = facts["bundle_source_local"]
    return found


def suite_lab_fixture(lab: SuiteLab):
    """A session fixture for a folder's conftest: every test of the folder runs on
    `lab` (provision's commands find it through PROVISION_INVENTORY), and the lab is
    destroyed when the session ends, whatever the tests left."""

    @pytest.fixture(scope="session", autouse=True)
    def suite_lab():
        before = os.environ.get("PROVISION_INVENTORY")
        os.environ["PROVISION_INVENTORY"] = str(lab.write())
        yield lab
        provision("destroy", "-i", str(lab.config), "--yes", check=False)
        if before is None:
            os.environ.pop("PROVISION_INVENTORY", None)
        else:
            os.environ["PROVISION_INVENTORY"] = before

    return suite_lab


# The state dirs of inventories a test made in a temporary folder (existing hosts
# reached over SSH): each path is new, so its state dir would outlive the run.
_TEMPORARY_STATES: list[Path] = []


def forget_at_session_end(config: Path) -> None:
    """Remove the state dir of the test-made inventory `config` when the session
    ends (its machines are the suite lab's nodes, destroyed with that lab)."""
    _TEMPORARY_STATES.append(resolve_inventory(str(config)).state_dir)


@pytest.fixture(scope="session", autouse=True)
def _temporary_states_removed():
    yield
    import shutil

    from provision.lock import lock_path

    for state in _TEMPORARY_STATES:
        shutil.rmtree(state, ignore_errors=True)
        lock_path(state).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def lab_data() -> dict:
    return yaml.safe_load(LAB.read_text())


@pytest.fixture
def lab(lab_data) -> dict:
    """A fresh, mutable copy of the default lab config."""
    return copy.deepcopy(lab_data)


@pytest.fixture
def write_config(tmp_path):
    def write(data: dict | str, name: str = "cluster.yml") -> Path:
        path = tmp_path / "inv" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write


# Each folder of real-lab tests and the marker that selects it. A test in one of
# these folders without its marker would never be selected by its tox env.
SUITE_MARKERS = {"integration": "lab", "e2e": "e2e", "vm": "vm", "upgrade": "upgrade"}


def pytest_collection_modifyitems(config, items):
    """Real-lab tests need their marker; a bare `pytest` (no -m) runs none of them.

    The lab, e2e and vm suites make and destroy machines: they run only when asked
    for by marker (`tox -e lab`, `-e e2e`, `-e ops`, `-e libvirt`).
    """
    tests_dir = Path(__file__).resolve().parent
    unmarked = []
    for item in items:
        folder = Path(item.fspath).resolve().relative_to(tests_dir).parts[0]
        marker = SUITE_MARKERS.get(folder)
        if marker and item.get_closest_marker(marker) is None:
            unmarked.append(f"{item.nodeid} (tests/{folder} needs @pytest.mark.{marker})")
    if unmarked:
        raise pytest.UsageError("tests without their suite's marker:\n  " + "\n  ".join(unmarked))
    if config.getoption("markexpr"):
        return
    keep = [i for i in items if not any(i.get_closest_marker(m) for m in SUITE_MARKERS.values())]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_sessionfinish(session, exitstatus):
    """In CI (PROVISION_NO_SKIP=1) a skipped test fails the run: CI never passes by
    skipping silently."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("PROVISION_NO_SKIP") == "1" and skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {len(skipped)} test(s) skipped; CI does not allow skips")
        session.exitstatus = 1


def as_existing_hosts(
    lab: dict, tmp_path: Path, address: str | None = None, port: int = 22
) -> dict:
    """The lab config turned into existing hosts (kind ssh) for tests that reach no
    real node: a key and a known_hosts file that exist (and hold nothing useful),
    every node at `address` (default: its own IP) and `port`."""
    key = tmp_path / "id"
    key.write_text("not a key\n")
    known = tmp_path / "known_hosts"
    known.write_text("")
    lab["machines"] = {
        "kind": "ssh",
        "ssh": {"user": "root", "private_key": str(key), "known_hosts": str(known), "port": port},
    }
    if address is not None:
        for node in lab["nodes"]:
            node["address"] = address
    return lab
