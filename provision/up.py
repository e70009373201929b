"""`provision up`: run the phases in order, each one real or not run at all.

The phases and their order are provision/phases/ (one module each); `Up` is the
runner and the context they run in: the checks before any phase, the resumable
record (phases.json), and `playbook`, which skips a playbook that converged on
every node.
"""

from __future__ import annotations

from functools import partial

from provision.config.model import ClusterConfig
from provision.doctor import run_checks
from provision.errors import HostError, UsageError
from provision.inventory import write_inventory
from provision.machines.factory import machines_for
from provision.phase_state import PhaseState
from provision.phases import BY_PLAYBOOK, PHASE_NAMES, chosen, phase
from provision.playbooks.converged import Converged, Why
from provision.playbooks.result import PlaybookResult
from provision.playbooks.runner import Playbooks
from provision.project import Inventory, cli_for
from provision.runlog import RunLog


class Up:
    def __init__(
        self,
        inv: Inventory,
        config: ClusterConfig,
        log: RunLog,
        provider: str | None = None,
        full: bool = False,
        check_lost: bool = True,
    ):
        self.inv = inv
        self.config = config
        self.log = log
        self.machines = machines_for(inv, config, log, provider)
        self.playbooks = Playbooks(inv, config, log)
        # `up --full` (and node operations, which reset what stamps describe) runs
        # every playbook; otherwise one that converged on every node is skipped.
        self.converged = Converged(inv, log, enabled=not full)
        # node operations remove and make machines themselves: not "lost" to them
        self.check_lost = check_lost
        self.verify_results: list = []  # verify.run.Result, once the verify phase ran
        # machines this run started again (a halted lab, a restarted engine or host),
        # and when: verify waits for them to settle first
        self.restarted: list[str] = []
        self.restarted_at = 0.0
        self.state = PhaseState.load(inv.state_dir, inv.cluster_file)

    def selected(self, only: list[str] | None) -> list[str]:
        return list(chosen(only)) if only else list(PHASE_NAMES)

    def plan(self, only: list[str] | None, start_from: str | None) -> list[str]:
        """The phases this run performs: --only, --from, a resume, or all."""
        every = list(PHASE_NAMES)
        if only:
            return self.selected(only)
        if start_from:
            self.selected([start_from])  # names an unknown phase clearly
            return every[every.index(start_from) :]
        point = self.state.resume_point(tuple(every))
        if point and point != every[0]:
            self.log.say(
                f"resuming at phase {point}: run {self.state.run} stopped there "
                f"({every[0]} is re-checked first; `--from {every[0]}` runs every phase)",
                style="yellow",
            )
            return [every[0], *every[every.index(point) :]]
        return every

    def run(
        self, only: list[str] | None = None, start_from: str | None = None
    ) -> list[tuple[str, float]]:
        phases = self.plan(only, start_from)
        self.preflight()
        if "machines" in phases and self.check_lost:
            self.lost_machines()
        if "machines" not in phases and self.machines.existing:
            # Existing hosts: reachable with pinned keys and passwordless sudo for the
            # login user, checked before any phase changes anything.
            self.machines.up()
        if "machines" not in phases and self.inv.hosts_file.exists():
            self.refresh_inventory()
        self.state.begin_run(
            self.log.dir.name, keep=[p for p in self.state.entries if p not in phases]
        )
        timings = []
        for name in phases:
            run = partial(phase(name).run, self)
            timings.append((name, self.state.run_step(name, run, self.log, f"phase {name}")))
        return timings

    def preflight(self) -> None:
        self.check_cri_source()
        failed = [
            c
            for c in run_checks(self.config, self.machines.provider, self.inv.cache_dir)
            if not c.ok
        ]
        if failed:
            lines = "\n".join(f"  {c.name}: {c.detail}\n      fix: {c.fix}" for c in failed)
            raise HostError(
                f"this host is not ready for the {self.machines.provider} provider:\n{lines}"
            )

    def check_cri_source(self) -> None:
        """cri-dockerd comes only from a built bundle: say so before any machine exists."""
        if self.config.runtime.cri != "docker":
            return
        from provision.bundle.manifest import read_manifest
        from provision.sources import resolve_sources

        sources = resolve_sources(self.config)
        names = []
        if sources.artifacts == "bundle":
            names = [
                a.name for a in read_manifest(sources.bundle_dir, self.config.versions.kubernetes)
            ]
        if "cri-dockerd" not in names:
            raise UsageError(
                f"{self.inv.cluster_file}: runtime.cri: docker needs cri-dockerd, which comes "
                f"from a bundle made by `provision bundle build` (none in {sources.bundle_dir})\n"
                "  fix: run `provision bundle build`, or set runtime.cri: containerd"
            )

    def lost_machines(self) -> None:
        """Machines of a made cluster that are gone (removed outside provision: a
        container or VM deleted by hand). A worker that held no data of its own is made
        again and joined as `node replace` would: its stale Node object is deleted
        first. The control plane, or a worker whose volumes held data, is refused
        before anything changes: that data went with the machine, and a backup
        brings it back."""

        from provision.addons.held import held_on
        from provision.errors import DataGuard
        from provision.remote import cluster_nodes, control_plane_shell, kubectl

        if self.machines.existing or not (self.inv.state_dir / "kubeconfig").exists():
            return
        gone = [m.name for m in self.machines.status() if m.state == "not_created"]
        if not gone:
            return
        cli = cli_for(self.inv.name)
        fix = (
            f"  nothing was changed\n  fix: `provision destroy{cli}`, `provision up{cli}`, then "
            f"`provision restore{cli} FILE` with a backup of this lab (`provision backup{cli} "
            "--list`): it carries etcd, the credentials, MySQL and RabbitMQ"
        )
        cp = self.config.control_plane.name
        if cp in gone:
            raise DataGuard(
                f"the control plane {cp}'s machine is gone (removed outside provision): "
                f"the cluster's state (etcd) went with it\n{fix}"
            )
        with control_plane_shell(self.inv, self.config) as on:
            sh = on["control-plane"]
            # a node the cluster never had (added to cluster.yml by hand) is new, not gone
            nodes = cluster_nodes(sh)
            known = {n["metadata"]["name"] for n in nodes}
            gone = [n for n in gone if n in known]
            if not gone:
                return
            lost = {n: held_on(sh, n) for n in gone}
            lost = {n: held for n, held in lost.items() if held}
            if lost:
                shown = "; ".join(f"{n}: {', '.join(h.values())}" for n, h in lost.items())
                raise DataGuard(
                    f"{', '.join(lost)}: machine gone (removed outside provision) with data "
                    f"that lived only there: {shown}\n{fix}"
                )
            for name in gone:
                sh(kubectl("delete", "node", name, "--timeout=120s"))
        self.log.say(
            f"machines: {', '.join(gone)} gone (removed outside provision; no data of "
            "their own): made again and joined, as `node replace` would",
            style="yellow",
        )

    def refresh_inventory(self, endpoints: dict | None = None) -> None:
        """Rewrite hosts.yml from the machines as they are now: a machine made again
        (or by another checkout of this project) may have another SSH port."""
        write_inventory(
            self.inv.hosts_file,
            self.config,
            endpoints or self.machines.endpoints(),
            self.inv.state_dir / "known_hosts",
        )

    def playbook(self, name: str, extra: dict | None = None) -> PlaybookResult:
        owner = BY_PLAYBOOK.get(name)
        node_local, starts = (owner.node_local, owner.starts) if owner else (False, ())
        digest = self.playbooks.digest(name, extra)
        decision = self.converged.decide(name, digest, node_local)
        if not decision.hosts:
            return self.playbooks.converged(name, self.converged.names())
        if decision.why in (Why.NODES, Why.UNREAD):
            self.log.write(f"  {name} runs: {decision.detail}")
        self.converged.ran(decision)
        limit = () if decision.every else decision.hosts
        try:
            result = self.playbooks.run(name, hosts=limit, extra=extra)
        except Exception:
            self.converged.unstamp(name, decision.hosts)  # half-run: no old stamp stays
            raise
        self.converged.stamp(name, digest, decision.hosts, starts)
        return result
