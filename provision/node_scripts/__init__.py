"""The scripts provision runs on a node, as files (shellchecked by
tests/unit/test_node_scripts.py), never built as Python strings. Each runs with
its values as arguments (argv) or on its stdin, never pasted into its text:

    restore-etcd.sh   the control plane's etcd and PKI from a backup (run as a
                      systemd unit by provision/backup/put.py)

The scripts that load an add-on's data in its pod are in the add-on's folder
(provision/addons/<name>/load.sh).
"""

from __future__ import annotations

from importlib import resources

NAMES = ("restore-etcd.sh",)


def script(name: str) -> str:
    """The text of one of NAMES."""
    if name not in NAMES:
        raise KeyError(f"no node script {name}: one of {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
