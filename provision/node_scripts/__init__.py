"""The scripts provision runs on a node, as files (shellchecked by
tests/unit/test_node_scripts.py), never built as Python strings. Each runs with
its values as arguments (argv) or on its stdin, never pasted into its text:

    provision-run.sh  one command as argv: tried again while the API server does not
                      answer, fed files on its stdin, its stdout carried as base64
                      (provision/remote.py; the roles' tasks that talk to the API)
    journal.sh        a unit's journal, for `provision diagnose`
    failed-units.sh   the node's failed systemd units with their status, for
                      `provision diagnose`
    static-pod-logs.sh  the logs of a control plane's static pod, read on the node,
                      for `provision diagnose`
    stamps.sh         the stamps of the playbooks that converged on the node
    restore-etcd.sh   the control plane's etcd and PKI from a backup (run as a
                      systemd unit by provision/backup/put.py)

Each is installed on a node at SCRIPT_DIR/<name>: by remote.NodeShell when a
command names it and the node's copy differs, and provision-run.sh by the role
kube_packages too (its files/ link here), for the roles' tasks.

The scripts that load an add-on's data in its pod are in the add-on's folder
(provision/addons/<name>/load.sh).
"""

from __future__ import annotations

from importlib import resources

from provision.shared import NODE_SCRIPTS_DIR

NAMES = (
    "provision-run.sh",
    "journal.sh",
    "failed-units.sh",
    "static-pod-logs.sh",
    "stamps.sh",
    "restore-etcd.sh",
)
SCRIPT_DIR = NODE_SCRIPTS_DIR  # provision/shared_defaults.yml, as the roles have it


def script(name: str) -> str:
    """The text of one of NAMES."""
    if name not in NAMES:
        raise KeyError(f"no node script {name}: one of {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
