"""Helpers for the real-lab tests: run the CLI for real, read what it made."""

import copy
import subprocess
from pathlib import Path

import yaml

from provision.project import resolve_inventory
from tests.conftest import (
    SuiteLab,
    forget_at_session_end,
    inventory_hosts,
    provision,
    suite_lab_fixture,
)

LABEL = "io.provision.cluster"
# The lab suite's own lab (never the user's default lab): made and destroyed by the
# tests, and destroyed when the session ends.
LAB = SuiteLab("t-it", "lab", 60)
suite_lab = suite_lab_fixture(LAB)


def ensure_bundle() -> None:
    """The offline bundle, built unless a complete one is there already."""
    if provision("bundle", "check", check=False).returncode != 0:
        provision("bundle", "build")


def docker(*args: str) -> str:
    return subprocess.run(
        ["/usr/bin/docker", *args], capture_output=True, text=True, check=True
    ).stdout


def lab_config() -> dict:
    """The config of the lab this suite runs on (PROVISION_INVENTORY)."""
    return yaml.safe_load(resolve_inventory(None).cluster_file.read_text())


def lab_containers(cluster: str | None = None) -> list[str]:
    """The containers labelled with a cluster's name (this suite's lab by default)."""
    cluster = cluster or lab_config()["cluster"]["name"]
    return docker("ps", "-aq", "--no-trunc", "--filter", f"label={LABEL}={cluster}").split()


def lab_state() -> Path:
    """The suite lab's state directory, as provision itself computes it."""
    return resolve_inventory(None).state_dir


def known_hosts_file() -> Path:
    return lab_state() / "known_hosts"


def latest_run() -> Path:
    return (lab_state() / "runs" / "latest").resolve()


def existing_hosts_inventory(
    root: Path, user: str | None = None, name: str = "existing"
) -> tuple[Path, Path]:
    """An inventory of kind ssh (cluster `existing`) whose hosts are the running lab's
    nodes, reached on their private IPs with their host keys pinned in a known_hosts
    file of its own: how an operator's existing machines are reached. The login user
    is the lab's own (a sudo user, `vagrant`) unless another is given."""
    lab_hosts = inventory_hosts()
    keys = {}
    for line in known_hosts_file().read_text().splitlines():
        host, kind, key = line.split()
        keys[host] = f"{kind} {key}"
    known = root / f"known_hosts-{name}"
    lines = []
    for h in lab_hosts.values():
        forwarded = "[{}]:{}".format(h["ansible_host"], h["ansible_port"])
        lines.append(f"{h['node_ip']} {keys[forwarded]}\n")
    known.write_text("".join(lines))
    config = copy.deepcopy(lab_config())
    config["cluster"]["name"] = name
    config["machines"] = {
        "kind": "ssh",
        "ssh": {
            "user": user or next(iter(lab_hosts.values()))["ansible_user"],
            "private_key": next(iter(lab_hosts.values()))["ansible_ssh_private_key_file"],
            "known_hosts": str(known),
        },
    }
    inv = root / name
    inv.mkdir()
    (inv / "cluster.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    forget_at_session_end(inv / "cluster.yml")
    return inv, known
