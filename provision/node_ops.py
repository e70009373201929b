"""`provision node reset|replace|add|remove`: reprovision one node of a running
cluster, for Vagrant machines and existing SSH hosts alike.

A worker is drained before it is removed. Of the data that lives only on it
(local volumes bound to claims), what a backup carries (MySQL's and RabbitMQ's)
is backed up first and put back once the node is back; anything else
(Elasticsearch's indices) is refused unless --force, which knowingly drops it.

The control plane is reset or replaced from a backup (a fresh one, or --backup
FILE when it is too broken to take one): the machine is reset or made again,
etcd's data and the PKI are put back (backup/put.py), and `kubeadm init` starts
the same cluster on them; the workers reconnect without a rejoin. Each stage is
recorded (backup/stages.py): run the same command again to resume.
"""

from __future__ import annotations

from pathlib import Path

from provision.addons.manifests import NAMESPACE
from provision.addons.registry import ADDONS
from provision.config.edit import add_node, remove_node, replace_config
from provision.config.model import ClusterConfig
from provision.errors import DataGuard, UsageError
from provision.machines.base import Machines
from provision.phases import chosen
from provision.project import Inventory
from provision.remote import cluster_nodes, control_plane_shell, kubectl
from provision.runlog import RunLog

# The parts of up's pipeline each operation runs (names checked against it).
# After a machine is (re)made: the phases that prepare it and join it; each is
# idempotent, so the other nodes report no change.
REJOIN = chosen(("machines", "prepare", "runtime", "kubernetes", "join", "addons"))
# The control plane made again from a backup: the node phases first, then (once
# etcd and the PKI are the backup's) kubeadm init, then the rest.
CP_PREPARE = chosen(("machines", "prepare", "runtime", "kubernetes"))
CP_REST = chosen(("network", "join", "addons"))
# Claims whose data `provision backup` carries and a restore puts back: the
# add-on, and the part of the backup that holds it (each add-on's DataParts).
BACKED_UP_CLAIMS = {f"{NAMESPACE}/{d.claim}": (a.name, d.path) for a in ADDONS for d in a.data}


class NodeOpRefused(DataGuard):
    """A node operation refused: it would lose the cluster, or data only this node holds."""


class NodeOps:
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log

    # -- guards --------------------------------------------------------------
    def worker(self, name: str) -> None:
        names = [n.name for n in self.config.nodes]
        if name not in names:
            raise UsageError(
                f"{self.inv.cluster_file}: no node named {name}\n"
                f"  fix: use one of {', '.join(names)}"
            )
        if name == self.config.control_plane.name:
            raise NodeOpRefused(
                f"{name} is the control plane: `node add` and `node remove` act on workers\n"
                f"  fix: `provision node replace {name}` remakes it from a backup"
            )

    def local_data(self, sh, name: str) -> dict[str, str]:
        """{namespace/claim: description} of the volumes bound to claims whose data
        lives only on this node."""
        from provision.addons.held import held_on

        return held_on(sh, name)

    def data_plan(self, sh, name: str, force: bool) -> list[str]:
        """The backup parts to put back once the node is back: the add-ons' data its
        volumes hold (MySQL, RabbitMQ), kept with or without --force. Other data
        that lives only there (Elasticsearch's indices) is refused unless --force,
        which knowingly drops it."""
        held = self.local_data(sh, name)
        other = [d for c, d in held.items() if c not in BACKED_UP_CLAIMS]
        if other and not force:
            raise NodeOpRefused(
                f"{name} holds data that lives only there and no backup carries: "
                f"{'; '.join(other)}\n"
                f"  fix: move that data first, or pass --force to lose it"
                + (
                    " (MySQL's and RabbitMQ's data is backed up and put back either way)"
                    if len(other) < len(held)
                    else ""
                )
            )
        if other:
            self.log.say(f"node: --force: the data of {'; '.join(other)} is lost", style="red")
        kept = [BACKED_UP_CLAIMS[c] for c in held if c in BACKED_UP_CLAIMS]
        if kept:
            self.log.say(
                f"node: {name} holds {', '.join(k[0] for k in kept)} data: "
                "backed up now, put back once the node is back"
            )
        return [k[1] for k in kept]

    def refuse_data_loss(self, sh, name: str, force: bool) -> None:
        """`node remove`: the node does not come back, so its data cannot either."""
        held = self.local_data(sh, name)
        if held and not force:
            raise NodeOpRefused(
                f"{name} holds data that lives only there: {'; '.join(held.values())}\n"
                f"  fix: move that data first, or pass --force to lose it"
            )
        if held:
            lost = "; ".join(held.values())
            self.log.say(f"node: --force: the data of {lost} is lost", style="red")

    def machines(self) -> Machines:
        from provision.machines.factory import machines_for

        return machines_for(self.inv, self.config, self.log)

    def hosts_ready(self) -> None:
        """Existing hosts: reachable, and sudo without a password, before any change."""
        machines = self.machines()
        if machines.existing:
            machines.up()

    def retire(self, name: str, reset_vars: dict | None = None) -> None:
        """The node's machine out of the lab: one provision made is destroyed; an
        existing host stays and is reset (kubeadm reset, the runtime's state)."""
        machines = self.machines()
        if machines.existing:
            self._playbook("node-reset.yml", name, reset_vars)
        else:
            machines.destroy_one(name)

    # -- steps -----------------------------------------------------------------
    def drain_and_delete(self, sh, name: str) -> None:
        nodes = cluster_nodes(sh)
        if name not in {n["metadata"]["name"] for n in nodes}:
            self.log.say(f"node: {name} is not in the cluster; nothing to drain")
            return
        self.log.say(f"node: draining {name}")
        sh(
            [
                *kubectl("drain", name, "--ignore-daemonsets", "--delete-emptydir-data", "--force"),
                "--timeout=300s",
            ]
        )
        sh(kubectl("delete", "node", name, "--timeout=120s"))
        self.log.say(f"node: {name} drained and removed from the cluster")

    def _up(self, phases: tuple[str, ...], config: ClusterConfig | None = None) -> None:
        from provision.up import Up

        # The node made again (or reset: kube_reset removes its stamps) has no
        # stamp: the node-local playbooks run there only, the others everywhere.
        Up(self.inv, config or self.config, self.log, check_lost=False).run(list(phases))

    def _wait_ready(self, sh, name: str) -> None:
        sh(kubectl("wait", f"node/{name}", "--for=condition=Ready", "--timeout=300s"))
        self.log.say(f"node: {name} is Ready", style="green")

    # -- operations --------------------------------------------------------------
    def reset(self, name: str, backup: Path | None = None) -> None:
        """Drain, remove, kubeadm reset and clean on the node, rejoin. The node's
        local volumes keep their data (backed up first all the same). The control
        plane: from a backup, see remake_control_plane()."""
        if name == self.config.control_plane.name:
            return self.remake_control_plane(name, remake=False, archive=backup)
        self.worker(name)
        self.hosts_ready()
        with control_plane_shell(self.inv, self.config) as on:
            sh = on["control-plane"]
            if self.data_plan(sh, name, force=False):
                self._backup()  # a safety copy: reset keeps the volumes
            self.drain_and_delete(sh, name)
            self._playbook("node-reset.yml", name)
            self._up(("join",))
            self._wait_ready(sh, name)

    def replace(self, name: str, force: bool, backup: Path | None = None) -> None:
        """Drain, remove, destroy and recreate the machine, prepare it, rejoin; the
        add-ons' data it held put back. The control plane: see remake_control_plane()."""
        if name == self.config.control_plane.name:
            return self.remake_control_plane(name, remake=True, archive=backup)
        self.worker(name)
        self.hosts_ready()
        with control_plane_shell(self.inv, self.config) as on:
            sh = on["control-plane"]
            kept = self.data_plan(sh, name, force)
            archive = self._backup() if kept else None
            self.drain_and_delete(sh, name)
        self.retire(name)
        self._up(REJOIN)
        with control_plane_shell(self.inv, self.config) as on:
            self._wait_ready(on["control-plane"], name)
            if archive is not None:
                self._put_back_data(on["control-plane"], archive, kept)

    def remake_control_plane(self, name: str, remake: bool, archive: Path | None) -> None:
        """The control plane reset (kubeadm reset) or made again, from a backup: the
        same cluster comes back, every object, the workers without a rejoin."""
        from provision.backup.put import ControlPlaneData, Trust
        from provision.backup.restore import fetch_kubeconfig, read_backup
        from provision.backup.stages import Stages
        from provision.remote import shells
        from provision.verify.run import Verify

        what = "replace" if remake else "reset"
        stages = Stages.begin(
            self.inv.state_dir, f"node {what} {name}", self.log, "the backup is not taken again"
        )
        if archive is not None and stages.archive and Path(stages.archive) != archive.resolve():
            raise UsageError(
                f"node {what} {name} is unfinished with the backup {stages.archive}\n"
                f"  fix: run it again without --backup to finish it"
            )
        self.hosts_ready()

        def take() -> None:
            if archive is not None:
                read_backup(self.inv, self.config, archive)  # checked before any change
                stages.archive = str(archive.resolve())
            else:
                stages.archive = str(self._backup())
            stages.save()

        stages.step("backup", take, self.log)
        parts = read_backup(self.inv, self.config, Path(stages.archive))

        def machine() -> None:
            reset = {"kube_reset_control_plane": True}
            if remake:
                self.retire(name, reset)
            else:
                self._playbook("node-reset.yml", name, reset)

        def init() -> None:
            with control_plane_shell(self.inv, self.config) as on:
                ControlPlaneData(on["control-plane"], self.config, self.log).restore(
                    parts, running=False
                )
            self._up(("control-plane",))

        def kubelets() -> None:
            # every kubelet restarted (and a foreign CA replaced) before the rest:
            # their watches began before etcd went back to the snapshot
            with shells(self.inv, {n.name: n.name for n in self.config.nodes}) as on:
                trust = Trust(on[name], self.config, self.log)
                trust.run(on)
                trust.wait_nodes()
                trust.restart_system()

        def finish() -> None:
            with control_plane_shell(self.inv, self.config) as on:
                fetch_kubeconfig(self.inv, on["control-plane"])
                ControlPlaneData(on["control-plane"], self.config, self.log).cleanup()

        stages.step("machine", machine, self.log)
        stages.step("prepare", lambda: self._up(CP_PREPARE), self.log)
        stages.step("control-plane", init, self.log)
        stages.step("kubelets", kubelets, self.log)
        stages.step("rest", lambda: self._up(CP_REST), self.log)
        stages.step("finish", finish, self.log)
        stages.finish()
        self.log.say("==> verify", style="bold")
        Verify(self.inv, self.config, self.log).run()

    def add(self, node: dict) -> None:
        """Add a worker to cluster.yml (checked first), make it, prepare it, join it."""
        if node["name"] in {n.name for n in self.config.nodes}:
            raise UsageError(
                f"{self.inv.cluster_file}: a node named {node['name']} exists already\n"
                "  fix: choose another name"
            )
        from provision.config.load import load_text

        path = self.inv.cluster_file
        text = add_node(path.read_text(encoding="utf-8"), node, str(path))
        # Everything checked before cluster.yml changes: the new config, the hosts,
        # and a control plane that answers.
        load_text(text, str(path))
        self.hosts_ready()
        with control_plane_shell(self.inv, self.config) as on:
            on["control-plane"](kubectl("get", "nodes", "-o", "name"))
        config = replace_config(path, text)
        self.log.say(f"node: {node['name']} added to {path}")
        self.config = config
        self._up(REJOIN, config)
        with control_plane_shell(self.inv, config) as on:
            self._wait_ready(on["control-plane"], node["name"])

    def remove(self, name: str, force: bool) -> None:
        """Drain, remove from the cluster, destroy the machine, drop it from cluster.yml."""
        self.worker(name)
        path = self.inv.cluster_file
        text = remove_node(path.read_text(encoding="utf-8"), name, str(path))
        from provision.config.load import load_text

        load_text(text, str(path))  # the config without it must be valid: check first
        self.hosts_ready()
        with control_plane_shell(self.inv, self.config) as on:
            sh = on["control-plane"]
            self.refuse_data_loss(sh, name, force)
            self.drain_and_delete(sh, name)
        self.retire(name)
        self.config = replace_config(path, text)
        self.log.say(f"node: {name} removed from {path}")
        self._up(("machines",))  # rewrites the inventory without it

    def _backup(self) -> Path:
        from provision.backup.take import Backup

        return Backup(self.inv, self.config, self.log).run()

    def _put_back_data(self, sh, archive: Path, kept: list[str]) -> None:
        from provision.backup.put import AddonData
        from provision.backup.restore import read_backup

        with read_backup(self.inv, self.config, archive) as parts:
            AddonData(sh, self.log).restore(parts, only=kept)

    def _playbook(self, name: str, host: str, extra: dict | None = None) -> None:
        from provision.playbooks.runner import Playbooks

        Playbooks(self.inv, self.config, self.log).run(
            name, [host], {"node_target": host, **(extra or {})}
        )
