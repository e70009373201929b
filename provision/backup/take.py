"""`provision backup`: one archive of what a lab cannot make again from its config.

    etcd/snapshot.db           etcdctl snapshot save in the etcd static pod, then
                               etcdutl snapshot status (the bundle's) on the node
    pki/kubernetes.tar.gz      /etc/kubernetes/pki and the kubeconfigs of the control plane
    secrets/addons.json        the generated add-on credentials (<state>/secrets)
    mysql/dump.sql             each deployed add-on's data, as its folder declares it
    rabbitmq/definitions.json  (provision/addons/<name>/: mysqldump --all-databases,
                               rabbitmqctl export_definitions)

Every part travels from the control plane as base64 on stdout (nothing is written
on the node but etcd's snapshot, removed at once) and no part, no secret and no
command output reaches the run log: the log names the parts and their sizes. The
MySQL root password never leaves the pod: mysqldump reads it from the pod's
environment. The archive format is archive.py's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

from provision import __version__
from provision.addons.base import in_pod
from provision.addons.registry import ADDONS
from provision.addons.secrets import secrets_file
from provision.backup.archive import Identity, archive_name, prune, write_archive
from provision.config.model import ClusterConfig
from provision.errors import UsageError
from provision.files import read_small
from provision.project import Inventory
from provision.remote import RUN, Argv, RemoteFailed, Shell, control_plane_shell, kubectl
from provision.runlog import RunLog

ETCD_TLS = (
    "--endpoints=https://127.0.0.1:2379",
    "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
    "--cert=/etc/kubernetes/pki/etcd/server.crt",
    "--key=/etc/kubernetes/pki/etcd/server.key",
)
# On the control plane: /var/lib/etcd is the etcd pod's data dir (a host path).
SNAPSHOT_ON_NODE = "/var/lib/etcd/provision-backup.db"
KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf")
DEFAULT_KEEP = 5


def backups_dir(inv: Inventory) -> Path:
    return inv.state_dir / "backups"


def identity(config: ClusterConfig) -> Identity:
    """What a restore must match: the cluster, its config (as the model reads it, so
    comments and key order do not count), its nodes, its Kubernetes version."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()
    return Identity(
        cluster=config.cluster.name,
        config_sha256=hashlib.sha256(canonical).hexdigest(),
        kubernetes=config.versions.kubernetes,
        nodes={n.name: str(n.ip) for n in config.nodes},
    )


class Backup:
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log

    def run(self, out: Path | None = None, keep: int = DEFAULT_KEEP) -> Path:
        """Take every part, write the archive (out, or <state>/backups/ with the
        newest `keep` kept); returns its path."""
        if out is not None and (out.exists() or out.is_symlink()):
            raise UsageError(f"{out} exists\n  fix: name a new file, or leave --out out")
        secrets = secrets_file(self.inv.state_dir)
        parts: dict[str, bytes] = {}
        with control_plane_shell(self.inv, self.config) as shells:
            sh = shells["control-plane"]
            parts["etcd/snapshot.db"] = self.etcd_snapshot(sh)
            parts["pki/kubernetes.tar.gz"] = self._b64(
                sh, ["tar", "-C", "/etc/kubernetes", "-czf", "-", "pki", *KUBECONFIGS]
            )
            # a link, a FIFO or a huge file there is refused, never followed or waited on
            credentials = read_small(secrets, "the add-ons' credentials")
            if credentials is not None:
                parts["secrets/addons.json"] = credentials
            deployed = set(self.config.addons.deployed())
            for addon in ADDONS:
                if deployed & set(addon.parts):
                    for part in addon.data:
                        parts[part.path] = self._b64(sh, in_pod(part.pod, part.export))
        for name, data in parts.items():
            self.log.say(f"backup: {name}: {len(data)} bytes")
        directory = backups_dir(self.inv)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = out or directory / archive_name(self.config.cluster.name)
        manifest = write_archive(path, identity(self.config), parts, __version__)
        self.log.say(f"backup: {path} ({len(manifest.parts)} parts, 0600)", style="green")
        if out is None:
            for old in prune(directory, self.config.cluster.name, keep):
                self.log.say(f"backup: removed {old.name} (keeping the newest {keep})")
        return path

    def etcd_snapshot(self, sh: Shell) -> bytes:
        pod = f"etcd-{self.config.control_plane.name}"
        save = kubectl("-n", "kube-system", "exec", pod, "--", "etcdctl", *ETCD_TLS)
        try:
            sh([*save, "snapshot", "save", SNAPSHOT_ON_NODE])
            status = json.loads(
                sh(["etcdutl", "snapshot", "status", SNAPSHOT_ON_NODE, "-w", "json"])
            )
            data = self._b64(sh, ["cat", "--", SNAPSHOT_ON_NODE])
        except RemoteFailed as e:
            raise RemoteFailed(
                f"etcd's snapshot failed: {e}\n  fix: check the etcd pod "
                "(`provision kubectl -- -n kube-system get pods`); a lab made before "
                "etcdutl was in the bundle gets it from `provision up --only kubernetes`"
            ) from None
        finally:
            sh(["rm", "-f", "--", SNAPSHOT_ON_NODE])
        # A bbolt file (etcd's backend) starts with a meta page: a 16-byte page header,
        # then the magic 0xED0CDAED (little-endian).
        if len(data) < 8192 or struct.unpack_from("<I", data, 16)[0] != 0xED0CDAED:
            raise RemoteFailed(
                f"etcd's snapshot is not a bbolt database ({len(data)} bytes)\n"
                "  fix: check the etcd pod (`provision kubectl -- -n kube-system get pods`)"
            )
        self.log.say(
            f"backup: etcd snapshot: revision {status.get('revision')}, "
            f"{status.get('totalKey')} keys (etcdutl snapshot status)"
        )
        return data

    @staticmethod
    def _b64(sh: Shell, argv: Argv) -> bytes:
        """The bytes a command prints, carried as base64 (the shell's stdout is text)."""
        return base64.b64decode(sh([RUN, "--base64", "--", *argv]))
