"""`provision node reset|replace|add|remove`: reprovision one worker of a running
cluster, for Vagrant machines and existing SSH hosts alike.

Every operation acts on workers only (the control plane is never touched), drains
before it removes, and refuses, unless forced, to destroy data that lives only on
that node: local volumes bound to claims.
"""

from __future__ import annotations

import json

from provision.config.edit import add_node, remove_node, replace_config
from provision.config.model import ClusterConfig
from provision.errors import DataGuard, UsageError
from provision.project import Inventory
from provision.remote import KUBECTL, control_plane
from provision.runlog import RunLog

# After a machine is (re)made: the phases that prepare it and join it; each is
# idempotent, so the other nodes report no change.
REJOIN = ("machines", "prepare", "runtime", "kubernetes", "join", "addons")


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
                f"{name} is the control plane: node operations act on workers only\n"
                "  fix: rebuild the cluster (`provision rebuild`) to remake the control plane"
            )

    def local_data(self, sh, name: str) -> list[str]:
        """Volumes bound to claims whose data lives only on this node."""
        pvs = json.loads(sh(f"{KUBECTL} get pv -o json"))["items"]
        held = []
        for pv in pvs:
            spec = pv["spec"]
            if "local" not in spec and "hostPath" not in spec:
                continue
            terms = spec.get("nodeAffinity", {}).get("required", {}).get("nodeSelectorTerms", [])
            nodes = {v for t in terms for e in t.get("matchExpressions", []) for v in e["values"]}
            scratch = pv["metadata"].get("annotations", {}).get("provision.io/scratch") == "true"
            if name in nodes and pv["status"].get("phase") == "Bound" and not scratch:
                claim = spec.get("claimRef", {})
                held.append(
                    f"{pv['metadata']['name']} (claim {claim.get('namespace')}/"
                    f"{claim.get('name')}, {spec['capacity']['storage']})"
                )
        return held

    def refuse_data_loss(self, sh, name: str, force: bool) -> None:
        held = self.local_data(sh, name)
        if held and not force:
            raise NodeOpRefused(
                f"{name} holds data that lives only there: {'; '.join(held)}\n"
                f"  fix: move that data first, or pass --force to lose it"
            )
        if held:
            self.log.say(f"node: --force: the data of {'; '.join(held)} is lost", style="red")

    def hosts_ready(self) -> None:
        """Existing hosts: reachable, and sudo without a password, before any change."""
        if self.config.machines.kind == "ssh":
            from provision.machines.factory import machines_for

            machines_for(self.inv, self.config, self.log).up()

    # -- steps -----------------------------------------------------------------
    def drain_and_delete(self, sh, name: str) -> None:
        nodes = json.loads(sh(f"{KUBECTL} get nodes -o json"))["items"]
        if name not in {n["metadata"]["name"] for n in nodes}:
            self.log.say(f"node: {name} is not in the cluster; nothing to drain")
            return
        self.log.say(f"node: draining {name}")
        sh(
            f"{KUBECTL} drain {name} --ignore-daemonsets --delete-emptydir-data --force "
            "--timeout 300s"
        )
        sh(f"{KUBECTL} delete node {name} --timeout 120s")
        self.log.say(f"node: {name} drained and removed from the cluster")

    def _up(self, phases: tuple[str, ...], config: ClusterConfig | None = None) -> None:
        from provision.up import Up

        Up(self.inv, config or self.config, self.log).run(list(phases))

    def _wait_ready(self, sh, name: str) -> None:
        sh(f"{KUBECTL} wait node/{name} --for=condition=Ready --timeout 300s")
        self.log.say(f"node: {name} is Ready", style="green")

    # -- operations --------------------------------------------------------------
    def reset(self, name: str) -> None:
        """Drain, remove, kubeadm reset and clean on the node, rejoin. The node's
        local volumes keep their data."""
        self.worker(name)
        self.hosts_ready()
        with control_plane(self.inv, self.config) as on:
            sh = on["control-plane"]
            self.drain_and_delete(sh, name)
            self._playbook("node-reset.yml", name)
            self._up(("join",))
            self._wait_ready(sh, name)

    def replace(self, name: str, force: bool) -> None:
        """Drain, remove, destroy and recreate the machine, prepare it, rejoin."""
        from provision.machines.factory import machines_for

        self.worker(name)
        self.hosts_ready()
        with control_plane(self.inv, self.config) as on:
            sh = on["control-plane"]
            self.refuse_data_loss(sh, name, force)
            self.drain_and_delete(sh, name)
        machines = machines_for(self.inv, self.config, self.log)
        machines.destroy_one(name)
        if self.config.machines.kind == "ssh":
            self._playbook("node-reset.yml", name)
        self._up(REJOIN)
        with control_plane(self.inv, self.config) as on:
            self._wait_ready(on["control-plane"], name)

    def add(self, node: dict) -> None:
        """Add a worker to cluster.yml (checked first), make it, prepare it, join it."""
        if node["name"] in {n.name for n in self.config.nodes}:
            raise UsageError(
                f"{self.inv.cluster_file}: a node named {node['name']} exists already\n"
                "  fix: choose another name"
            )
        path = self.inv.cluster_file
        text = add_node(path.read_text(encoding="utf-8"), node, str(path))
        config = replace_config(path, text)
        self.log.say(f"node: {node['name']} added to {path}")
        self.config = config
        self._up(REJOIN, config)
        with control_plane(self.inv, config) as on:
            self._wait_ready(on["control-plane"], node["name"])

    def remove(self, name: str, force: bool) -> None:
        """Drain, remove from the cluster, destroy the machine, drop it from cluster.yml."""
        from provision.machines.factory import machines_for

        self.worker(name)
        path = self.inv.cluster_file
        text = remove_node(path.read_text(encoding="utf-8"), name, str(path))
        from provision.config.load import load_text

        load_text(text, str(path))  # the config without it must be valid: check first
        self.hosts_ready()
        with control_plane(self.inv, self.config) as on:
            sh = on["control-plane"]
            self.refuse_data_loss(sh, name, force)
            self.drain_and_delete(sh, name)
        if self.config.machines.kind == "ssh":
            self._playbook("node-reset.yml", name)
        machines_for(self.inv, self.config, self.log).destroy_one(name)
        self.config = replace_config(path, text)
        self.log.say(f"node: {name} removed from {path}")
        self._up(("machines",))  # rewrites the inventory without it

    def _playbook(self, name: str, host: str) -> None:
        from provision.playbooks.runner import Playbooks

        Playbooks(self.inv, self.config, self.log).run(name, [host], {"node_target": host})
