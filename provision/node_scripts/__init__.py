"""The scripts provision runs on a node or in a pod, as files (shellchecked by
tests/unit/test_node_scripts.py), never built as Python strings. Each runs with
its values as arguments (argv) or on its stdin, never pasted into its text:

    restore-etcd.sh   the control plane's etcd and PKI from a backup (run as a
                      systemd unit by provision/backup/put.py)
    mysql-load.sh     a dump into the MySQL pod
    rabbitmq-load.sh  definitions into the RabbitMQ pod
"""

from __future__ import annotations

from importlib import resources

NAMES = ("restore-etcd.sh", "mysql-load.sh", "rabbitmq-load.sh")


def script(name: str) -> str:
    """The text of one of NAMES."""
    if name not in NAMES:
        raise KeyError(f"no node script {name}: one of {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
