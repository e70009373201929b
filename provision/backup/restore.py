"""`provision restore FILE`: a backup put back onto a running lab made from the
same cluster.yml (same nodes, same addresses, same Kubernetes version). An upgrade
rehearsal restores the real lab's backup onto a copy of it at other addresses
(`origin`, the real lab's config, is what the backup must fit; put.Readdress).

Nothing changes before the archive is read through, every part matches its
sha256 and the archive's identity matches this lab; a lab that holds objects of
its own (namespaces, or objects in `default`, that `provision up` does not make)
is refused unless --force. Then, each stage recorded (stages.py):

    control-plane  etcd and the PKI, the kubeadm way (put.py)
    kubelets       nodes that trust another CA get the restored one; every
                   kubelet restarted (put.py's Trust says why)
    nodes          every node Ready; kube-system's controllers restarted
    addon-data     MySQL's dump and RabbitMQ's definitions loaded
    addons         every pod of the nodes Ready, every add-on rolled out
    credentials    the backup's add-on credentials in <state>/secrets, the
                   admin kubeconfig fetched again, the node's copies removed

and the lab is verified.
"""

from __future__ import annotations

import os
from pathlib import Path

from provision.addons.secrets import secrets_file, write_private
from provision.backup.archive import Parts, check_fits, read_parts
from provision.backup.model import refused
from provision.backup.put import AddonData, ControlPlaneData, RestoreFailed, Trust, own_objects
from provision.backup.stages import Stages
from provision.backup.take import identity
from provision.config.model import ClusterConfig
from provision.errors import DataGuard, UsageError
from provision.files import MAX_BYTES, decode_json, read_json, refuse
from provision.project import Inventory
from provision.remote import shells
from provision.runlog import RunLog
from provision.shared import ADMIN_KUBECONFIG

CREDENTIALS = "secrets/addons.json"


class RestoreRefused(DataGuard):
    """The lab holds objects of its own; a restore would replace them."""


def read_backup(
    inv: Inventory, config: ClusterConfig, archive: Path, origin: ClusterConfig | None = None
) -> Parts:
    """Every part of the archive, checked as it is read, and the archive checked to
    fit this lab (or `origin`, the lab a copy was made from); the parts wait in a
    private spool in the lab's state directory (Parts.close() removes it, as does
    dropping them)."""
    spool_in = inv.state_dir if inv.state_dir.is_dir() else None
    manifest, parts = read_parts(archive, spool_in)
    try:
        check_fits(archive, manifest, identity(origin or config))
        for needed in ("etcd/snapshot.db", "pki/kubernetes.tar.gz"):
            if needed not in parts:
                raise UsageError(
                    f"{archive}: has no {needed}\n  fix: use a backup made by `provision backup`"
                )
        if CREDENTIALS in parts:
            _credentials(archive, parts)
    except BaseException:
        parts.close()
        raise
    return parts


def _credentials(archive: Path, parts: Parts) -> dict[str, str]:
    """The add-on credentials the backup carries: a JSON object of names to strings,
    as `provision backup` took them, checked before anything changes."""
    if parts.size(CREDENTIALS) > MAX_BYTES:
        raise refused(archive, f"part {CREDENTIALS} is larger than {MAX_BYTES} bytes")
    try:
        data = decode_json(parts[CREDENTIALS])
    except ValueError as e:
        raise refused(archive, f"part {CREDENTIALS} is not JSON ({e})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise refused(archive, f"part {CREDENTIALS} is not a mapping of names to strings")
    return data


def current_root_password(state_dir: Path) -> str:
    """MySQL's root password as this lab has it now ("" when it has none): MySQL's
    data may still be set up with it."""
    path = secrets_file(state_dir)
    fix = f"put back the file provision wrote, or remove it (`rm {path}`)"
    stored = read_json(path, "the add-ons' credentials", fix=fix) or {}
    password = stored.get("mysql-root-password", "")
    if not isinstance(password, str):
        raise refuse(path, "the add-ons' credentials", "mysql-root-password is not a string", fix)
    return password


def fetch_kubeconfig(inv: Inventory, cp) -> None:
    """The admin kubeconfig the control plane now has, into <state>/kubeconfig (0600)."""
    path = inv.state_dir / "kubeconfig"
    write_private(path, cp(["cat", ADMIN_KUBECONFIG]))
    os.chmod(path, 0o600)


def put_credentials(inv: Inventory, parts: Parts) -> None:
    if CREDENTIALS in parts:
        write_private(secrets_file(inv.state_dir), parts[CREDENTIALS].decode())


class Restore:
    def __init__(
        self,
        inv: Inventory,
        config: ClusterConfig,
        log: RunLog,
        origin: ClusterConfig | None = None,
    ):
        """origin: the lab the backup was taken of, when this lab is a copy of it at
        other node addresses (an upgrade rehearsal)."""
        self.inv = inv
        self.config = config
        self.log = log
        self.origin = origin
        self.moved = origin is not None and identity(origin).nodes != identity(config).nodes

    def run(self, archive: Path, force: bool) -> list:
        archive = archive.resolve()
        with read_backup(self.inv, self.config, archive, self.origin) as parts:
            return self._restore(archive, parts, force)

    def readdress(self, cp) -> None:
        from provision.backup.put import Readdress
        from provision.playbooks.calico import fitted_manifest
        from provision.playbooks.kubeadm import wait_scale
        from provision.sources import resolve_sources

        manifest = fitted_manifest(
            self.config,
            resolve_sources(self.config).bundle_dir,
            self.inv.state_dir / "calico.yaml",
            wait_scale(self.config),
        )
        Readdress(cp, manifest.read_bytes(), self.log).run()

    def wait_addons(self, cp) -> None:
        """Every node's pods Ready and every add-on rolled out: the pods of the
        backup's objects start after the kubelets restart, and a stateless add-on
        (Zipkin) may still be starting when its data-holding ones are loaded (measured:
        verify's span sent to a Zipkin not yet listening, curl exit 7)."""
        from provision.verify.settle import settle_lab

        names = [n.name for n in self.config.nodes]
        settle_lab(cp, self.config, names, 0, self.log.say, after="the restore")

    def _restore(self, archive: Path, parts: Parts, force: bool) -> list:
        from provision.verify.run import Verify

        digest = parts.archive_sha256[:12]
        self.log.say(f"restore: {archive.name} (sha256 {digest}…) fits this lab")
        stages = Stages.begin(
            self.inv.state_dir, "restore", self.log, "every stage is safe to run again"
        )
        if stages.archive and stages.archive != str(archive):
            raise UsageError(
                f"a restore of {stages.archive} is unfinished\n"
                f"  fix: `provision restore {stages.archive}` finishes it first"
            )
        # The lab's current credentials: MySQL's data may still be set up with them.
        root_password = current_root_password(self.inv.state_dir)
        names = {n.name: n.name for n in self.config.nodes}
        cp_name = self.config.control_plane.name
        with shells(self.inv, names) as on:
            cp = on[cp_name]
            if not stages.entries:
                own = own_objects(cp)
                if own and not force:
                    stages.finish()
                    raise RestoreRefused(
                        f"this lab holds objects of its own: {', '.join(own[:8])}"
                        + (f" and {len(own) - 8} more" if len(own) > 8 else "")
                        + "\n  a restore replaces every object with the backup's; nothing "
                        "was changed\n  fix: `provision backup` first to keep them, then "
                        "restore with --force"
                    )
                if own:
                    self.log.say(
                        f"restore: --force: replacing {len(own)} objects of this lab's own",
                        style="red",
                    )
            stages.archive = str(archive)
            stages.save()
            data = ControlPlaneData(cp, self.config, self.log)
            trust = Trust(cp, self.config, self.log)

            def control_plane() -> None:
                data.restore(parts, running=True, moved=self.moved)
                if self.moved:
                    self.readdress(cp)

            stages.step("control-plane", control_plane, self.log)
            stages.step("kubelets", lambda: trust.run(on), self.log)

            def nodes() -> None:
                trust.wait_nodes()
                trust.restart_system()

            stages.step("nodes", nodes, self.log)
            stages.step(
                "addon-data",
                lambda: AddonData(cp, self.log).restore(parts, root_password),
                self.log,
            )

            stages.step("addons", lambda: self.wait_addons(cp), self.log)

            def credentials() -> None:
                put_credentials(self.inv, parts)
                fetch_kubeconfig(self.inv, cp)
                data.cleanup()

            stages.step("credentials", credentials, self.log)
        stages.finish()
        self.log.say("==> verify", style="bold")
        return Verify(self.inv, self.config, self.log).run()


__all__ = ["Restore", "RestoreFailed", "RestoreRefused", "read_backup"]
