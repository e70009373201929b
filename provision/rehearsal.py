"""`provision upgrade --to VERSION --rehearse`: the upgrade tried on a throwaway copy
of the lab, with the lab's data, before it touches the lab.

The copy is the lab's own cluster.yml under another cluster name (`<name>-rehearsal`)
and node subnet (a free /24 of the host, or --subnet), with its own state: a
separate network, machines and state directory, so nothing of the copy can reach or
change the lab. Its pod and service ranges are the lab's: they are in every object
the backup holds (Service addresses), and live only inside the nodes. The node
addresses are what moves: the restore makes the control plane's certificates and
kubeconfigs again for the copy's address and points what the cluster holds about it
there (backup/put.py's Readdress).

    checks    what `upgrade` checks on the lab (a release one minor up, the bundle,
              every node Ready, verify green); the copy's config checked
    measure   on the lab, read only: object counts, MySQL's checksum, durable queues
    backup    a fresh backup of the lab, into the copy's folder
    copy-up   the copy made by `up` at the lab's release
    restore   the backup restored onto the copy (which verifies)
    upgrade   `upgrade --to VERSION` on the copy (which verifies)
    compare   the same measures on the copy, and every kubelet at the target
    destroy   the copy's machines, network and state, whatever happened before

The report (`<state>/rehearsals/<time>.json`) says GO or NO-GO with the stage that
failed and why; NO-GO exits 8. The lab's own record, backups and cluster.yml are
not written: the one change on the lab is what its checks ask of it (verify).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from provision.config.model import ClusterConfig
from provision.errors import ProvisionError, RebuildFailed, UsageError
from provision.files import write_state
from provision.project import Inventory, read_owner
from provision.runlog import RunLog

SUFFIX = "-rehearsal"
# Where a copy's subnet is looked for when --subnet is not given.
CANDIDATES = ipaddress.ip_network("192.168.192.0/18")


class RehearsalFailed(RebuildFailed):
    """The rehearsal's copy did not upgrade cleanly: NO-GO (its report says why)."""


@dataclass
class RehearsalResult:
    current: str
    target: str
    copy: str
    subnet: str
    stages: dict[str, float] = field(default_factory=dict)
    failed: str = ""  # the stage that failed
    error: str = ""
    differences: list[str] = field(default_factory=list)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # the copy's, upgraded

    @property
    def go(self) -> bool:
        return not self.failed and not self.differences and bool(self.after)

    def as_dict(self) -> dict:
        return {
            "verdict": "GO" if self.go else "NO-GO",
            "from": self.current,
            "to": self.target,
            "copy": {"cluster": self.copy, "node_subnet": self.subnet},
            "stages": self.stages,
            "failed": self.failed,
            "error": self.error,
            "differences": self.differences,
            "before": self.before,
            "after": self.after,
            "copy_versions": self.versions,
        }


def host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination in the host's routing tables (bridges of Docker and
    libvirt networks, blackholes of labs' pod and service ranges, the host's own)."""
    out = subprocess.run(
        ["ip", "-j", "-4", "route", "show", "table", "all"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    found = []
    for route in json.loads(out.stdout or "[]"):
        dst = route.get("dst", "")
        if dst and dst != "default":
            try:
                found.append(ipaddress.ip_network(dst, strict=False))
            except ValueError:
                continue
    return [n for n in found if n.version == 4 and n.prefixlen > 0]


def free_subnet(config: ClusterConfig, used: list[ipaddress.IPv4Network]) -> str:
    """The first subnet of CANDIDATES, as large as the lab's node subnet, that
    overlaps nothing the host routes and none of the lab's ranges."""
    net = config.network
    size = ipaddress.ip_network(str(net.node_subnet)).prefixlen
    taken = [
        *used,
        ipaddress.ip_network(str(net.node_subnet)),
        ipaddress.ip_network(str(net.pod_cidr)),
        ipaddress.ip_network(str(net.service_cidr)),
    ]
    if size >= CANDIDATES.prefixlen:
        for candidate in CANDIDATES.subnets(new_prefix=size):
            if not any(candidate.overlaps(t) for t in taken):
                return str(candidate)
    raise UsageError(
        f"no free /{size} for the rehearsal's copy in {CANDIDATES}\n  nothing was changed\n"
        "  fix: name one with --subnet CIDR"
    )


def copy_text(text: str, config: ClusterConfig, name: str, subnet: str) -> str:
    """The lab's cluster.yml as the copy's: another cluster name, and each node at the
    same place in the new subnet (comments are not kept: the copy is thrown away)."""
    data = yaml.safe_load(text)
    old = ipaddress.ip_network(str(config.network.node_subnet))
    new = ipaddress.ip_network(subnet)
    if new.prefixlen != old.prefixlen:
        raise UsageError(
            f"--subnet {subnet} is not a /{old.prefixlen} like the lab's node subnet {old}\n"
            "  nothing was changed\n  fix: give a subnet of the same size"
        )
    data["cluster"]["name"] = name
    data["network"]["node_subnet"] = str(new)
    for node in data["nodes"]:
        offset = int(ipaddress.ip_address(str(node["ip"]))) - int(old.network_address)
        node["ip"] = str(new.network_address + offset)
    return yaml.safe_dump(data, sort_keys=False)


class Rehearsal:
    def __init__(
        self,
        inv: Inventory,
        config: ClusterConfig,
        log: RunLog,
        target: str,
        subnet: str | None = None,
    ):
        self.inv = inv
        self.config = config
        self.log = log
        self.target = target.lstrip("v")
        self.subnet = subnet
        # -i <folder>/cluster.yml names the copy as this does (the folder's name)
        self.folder = inv.state_dir / f"{inv.name}{SUFFIX}"
        self.copy_inv = Inventory(
            self.folder.name, self.folder, inv.root, self.folder / "cluster.yml"
        )
        self.copy_config: ClusterConfig | None = None
        self.copy_log: RunLog | None = None
        self.report_path: Path | None = None
        self.result = RehearsalResult(
            config.versions.kubernetes, self.target, config.cluster.name + SUFFIX, ""
        )

    # -- before anything changes -------------------------------------------------------
    def check(self) -> None:
        from provision.config.load import load_text, read_config_text
        from provision.upgrade import Upgrade

        config = self.config
        if not config.machines.made_here:
            raise UsageError(
                "--rehearse makes a copy of the lab's machines: this lab's nodes are existing "
                "hosts (machines.kind: ssh), which provision cannot copy\n  nothing was "
                "changed\n  fix: rehearse on a Vagrant lab made from the same config"
            )
        if "nfs" in config.addons.deployed() and config.addons.volumes == "nfs":
            raise UsageError(
                "--rehearse: the lab's volumes are NFS exports of "
                f"{config.addons.nfs.server_node}'s address, which a PersistentVolume keeps "
                "for good: the copy at its own addresses cannot mount them\n  nothing was "
                "changed\n  fix: upgrade without --rehearse after `provision backup`"
            )
        if len(config.cluster.name + SUFFIX) > 63:
            raise UsageError(
                f"--rehearse: the copy's name {config.cluster.name + SUFFIX!r} is longer than "
                "63 characters\n  nothing was changed\n  fix: a shorter cluster.name"
            )
        if self.result.current == self.target:
            raise UsageError(
                f"the lab runs Kubernetes {self.target} already: there is no upgrade to "
                "rehearse\n  nothing was changed"
            )
        upgrade = Upgrade(self.inv, config, self.log, self.target)
        upgrade.target_config()
        upgrade.check_cluster(resuming=False)
        subnet = self.subnet or free_subnet(config, host_networks())
        text = copy_text(read_config_text(self.inv.cluster_file), config, self.result.copy, subnet)
        self.copy_config = load_text(text, str(self.copy_inv.cluster_file))  # checked
        self.result.subnet = subnet
        # every check passed: only now is anything changed
        self.remove_leftover()
        self.folder.mkdir(mode=0o700, exist_ok=True)
        write_state(self.copy_inv.cluster_file, text)
        self.log.say(
            f"rehearsal: a copy of {config.cluster.name} as {self.result.copy} on {subnet} "
            f"(state {self.copy_inv.state_dir})"
        )

    def remove_leftover(self) -> None:
        """A copy an earlier rehearsal left (killed before its destroy) goes first:
        only one whose state names it as this lab's copy."""
        from provision.config.load import load

        owner = self.copy_inv.owner_file
        record = read_owner(owner)  # a file that is not an owner record is refused
        if record is None:
            return
        if record["cluster"] != self.result.copy:
            raise UsageError(
                f"{owner} names the cluster {record['cluster']!r}, not this lab's copy "
                f"{self.result.copy!r}\n  nothing was changed\n  fix: look at that state "
                "directory and remove it yourself"
            )
        self.log.say(f"rehearsal: removing the copy an earlier rehearsal left ({owner.parent})")
        self.destroy_copy(load(self.copy_inv.cluster_file))

    # -- the stages ----------------------------------------------------------------------
    def run(self) -> RehearsalResult:
        self._stage("checks", self.check)
        assert self.copy_config is not None
        try:
            self._rehearse()
        except ProvisionError as e:
            self.result.error = str(e) or type(e).__name__
        finally:
            self._stage("destroy", lambda: self.destroy_copy(self.copy_config))
            self.report()
        if not self.result.go:
            raise RehearsalFailed(
                f"upgrade rehearsal {self.result.current} -> {self.target}: NO-GO: "
                + (
                    f"stage {self.result.failed} failed: {self.result.error.splitlines()[0]}"
                    if self.result.failed
                    else f"{len(self.result.differences)} differences"
                )
                + f"\n  the lab was not changed\n  report: {self.report_path}"
            )
        return self.result

    def _stage(self, name: str, fn) -> None:
        self.log.say(f"==> rehearsal: {name}", style="bold")
        start = time.monotonic()
        try:
            fn()
        except BaseException:
            self.result.failed = self.result.failed or name
            raise
        finally:
            self.result.stages[name] = round(time.monotonic() - start, 1)
        self.log.say(f"<== rehearsal: {name} done in {self.result.stages[name]:.1f} s")

    def _rehearse(self) -> None:
        from provision.backup.drill import Measures, compare
        from provision.backup.restore import Restore
        from provision.backup.take import Backup
        from provision.lock import lab_lock
        from provision.remote import control_plane_shell
        from provision.up import Up
        from provision.upgrade import Upgrade

        copy, copy_inv = self.copy_config, self.copy_inv
        assert copy is not None
        archive = self.folder / "lab.tar.gz"

        def measure() -> None:
            with control_plane_shell(self.inv, self.config) as on:
                self.result.before = Measures(on["control-plane"], self.config).measure()

        self._stage("measure", measure)
        self._stage("backup", lambda: Backup(self.inv, self.config, self.log).run(out=archive))
        with lab_lock(copy_inv.state_dir, f"upgrade rehearsal of {self.config.cluster.name}"):
            copy_inv.claim_state(copy.cluster.name, makes_machines=True)
            log = self.copy_log = RunLog(copy_inv.state_dir, "rehearsal", self.log.console)
            self._stage("copy-up", lambda: Up(copy_inv, copy, log).run())
            self._stage(
                "restore",
                lambda: Restore(copy_inv, copy, log, origin=self.config).run(archive, force=False),
            )
            self._stage("upgrade", lambda: Upgrade(copy_inv, copy, log, self.target).run())

            def check() -> None:
                from provision.config.load import load
                from provision.remote import cluster_nodes, kubectl

                upgraded = load(copy_inv.cluster_file)
                with control_plane_shell(copy_inv, upgraded) as on:
                    sh = on["control-plane"]
                    self.result.after = Measures(sh, upgraded).measure()
                    nodes = cluster_nodes(sh)
                    server = json.loads(sh(kubectl("get", "--raw", "/version")))["gitVersion"]
                self.result.versions = {
                    n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes
                }
                self.result.versions["apiserver"] = server
                before = self.result.before
                self.result.differences = compare(before, self.result.after, before["configmap"])
                want = f"v{self.target}"
                self.result.differences += [
                    f"{k} runs {v}, not {want}"
                    for k, v in sorted(self.result.versions.items())
                    if v != want
                ]
                for line in self.result.differences:
                    self.log.say(f"  rehearsal: DIFFERS {line}", style="red")

            self._stage("compare", check)

    def destroy_copy(self, copy: ClusterConfig | None) -> None:
        """The copy's machines, network and state (its run logs stay, for a NO-GO's
        reader), its folder with the lab's backup; the lab's blackhole routes for the
        pod and service ranges it shares with the copy put back (the copy's destroy
        removes them)."""
        from provision.destroy import destroy_lab
        from provision.machines.routes import add_blackholes

        if copy is not None and copy.cluster.name == self.result.copy:
            log = self.copy_log or self.log
            destroy_lab(self.copy_inv, copy, log)
            add_blackholes(self.config, lambda line: None)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the report ------------------------------------------------------------------------
    def report(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.inv.state_dir / "rehearsals" / f"{stamp}.json"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_state(path, json.dumps(self.result.as_dict(), indent=2) + "\n")
        self.report_path = path
        r = self.result
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in r.stages.items())
        verdict = "GO" if r.go else "NO-GO"
        self.log.say(
            f"rehearsal: upgrade {r.current} -> {r.target} on a copy of the lab: {verdict} "
            f"({steps}); report {path}"
            + (f"; the copy's logs {self.copy_log.dir}" if self.copy_log else ""),
            style="bold green" if r.go else "bold red",
        )
