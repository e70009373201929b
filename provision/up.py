"""`provision up`: run the phases in order, each one real or not run at all.

Phases are listed in phases.py; each has its runner here (a test checks that
every phase has one).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from provision.config.model import ClusterConfig
from provision.doctor import run_checks
from provision.errors import HostError, UsageError
from provision.files import write_state
from provision.inventory import write_inventory
from provision.machines.factory import machines_for
from provision.phase_state import PhaseState
from provision.phases import PHASE_NAMES
from provision.playbooks.converged import Converged
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
        self.runners: dict[str, Callable[[], PlaybookResult | None]] = {
            "machines": self.machines_phase,
            "prepare": lambda: self.playbook("prepare.yml"),
            "runtime": lambda: self.playbook("runtime.yml"),
            "kubernetes": lambda: self.playbook("kubernetes.yml"),
            "control-plane": self.control_plane_phase,
            "network": self.network_phase,
            "join": lambda: self.playbook("join.yml"),
            "addons": self.addons_phase,
            "verify": self.verify_phase,
        }

    def selected(self, only: list[str] | None) -> list[str]:
        if not only:
            return list(PHASE_NAMES)
        unknown = [p for p in only if p not in PHASE_NAMES]
        if unknown:
            raise UsageError(
                f"unknown phase {', '.join(unknown)}\n"
                f"  fix: use phases from: {', '.join(PHASE_NAMES)}"
            )
        return [p for p in PHASE_NAMES if p in only]

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
            self.log.dir.name, keep=[p for p in self.state.phases if p not in phases]
        )
        timings = []
        for name in phases:
            start = self.log.elapsed()
            self.log.say(f"==> phase {name}", style="bold")
            self.state.started(name)
            try:
                self.runners[name]()
            except BaseException as e:
                error = str(e) or type(e).__name__
                self.state.finished(name, self.log.elapsed() - start, error)
                raise
            took = self.log.elapsed() - start
            self.state.finished(name, took)
            timings.append((name, took))
            self.log.say(f"<== phase {name} done in {took:.1f} s", style="green")
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
        from provision.remote import KUBECTL, cluster_nodes, control_plane

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
        with control_plane(self.inv, self.config) as on:
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
                sh(f"{KUBECTL} delete node {name} --timeout 120s")
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

    def machines_phase(self) -> None:
        import time

        self.restarted_at = time.time()
        self.restarted = self.machines.up()
        endpoints = self.machines.endpoints()
        known_hosts = self.inv.state_dir / "known_hosts"
        write_state(known_hosts, self.machines.known_hosts(endpoints))
        self.refresh_inventory(endpoints)
        self.log.say(f"machines: inventory written to {self.inv.hosts_file}")

    def control_plane_phase(self) -> None:
        from provision.playbooks.kubeadm import kubeadm_config

        state = self.inv.state_dir
        rendered = state / "kubeadm-config.yaml"
        write_state(
            rendered,
            kubeadm_config(self.config, self.machines.provider, str(self.inv.cluster_file)),
        )
        kubeconfig = state / "kubeconfig"
        if kubeconfig.is_symlink():  # provision's own file: Ansible's fetch and chmod follow one
            kubeconfig.unlink()
        self.playbook(
            "control-plane.yml",
            {"kubeadm_config_file": str(rendered), "kubeconfig_dest": str(kubeconfig)},
        )
        os.chmod(kubeconfig, 0o600)
        self.log.say(
            f"control-plane: admin kubeconfig in {kubeconfig} (0600); "
            f"use `provision kubectl{cli_for(self.inv.name)} -- get nodes`"
        )

    def network_phase(self) -> None:
        from provision.playbooks.calico import fitted_manifest
        from provision.sources import resolve_sources

        sources = resolve_sources(self.config)
        if sources.artifacts != "bundle":
            raise UsageError(
                "the network phase deploys Calico from the offline bundle in this "
                "version\n  fix: run `provision bundle build` (artifacts.source: "
                "auto or bundle)"
            )
        manifest = fitted_manifest(
            self.config, sources.bundle_dir, self.inv.state_dir / "calico.yaml"
        )
        self.playbook("network.yml", {"calico_manifest_file": str(manifest)})

    def addons_phase(self) -> None:
        from provision.addons.deploy import AddonsPhase

        AddonsPhase(self.inv, self.config, self.log, self.playbook).run()

    def verify_phase(self) -> None:
        from provision.verify.run import Verify

        if self.restarted:
            self.settle()
        self.verify_results = Verify(self.inv, self.config, self.log).run()

    def settle(self) -> None:
        """Wait for what the restarted machines ran before they stopped."""
        from provision.addons.deploy import workloads
        from provision.addons.manifests import NAMESPACE
        from provision.playbooks.kubeadm import wait_scale
        from provision.remote import control_plane
        from provision.verify.settle import NotSettled, settle

        self.log.say(f"settle: waiting for {', '.join(self.restarted)} to come back")
        timeout = 600 * wait_scale(self.config, self.machines.provider)
        with control_plane(self.inv, self.config, error=NotSettled) as sh:
            settle(
                sh["control-plane"],
                self.restarted,
                # a second's slack: the API records times in whole seconds
                self.restarted_at - 1,
                workloads(self.config),
                NAMESPACE,
                timeout,
                self.log.say,
            )

    def playbook(self, name: str, extra: dict | None = None) -> PlaybookResult:
        digest = self.playbooks.digest(name, extra)
        decision = self.converged.decide(name, digest)
        if not decision.hosts:
            return self.playbooks.converged(name, self.converged.names())
        if decision.why not in ("--full", "an earlier playbook ran"):
            self.log.write(f"  {name} runs: {decision.why}")
        self.converged.ran(name, decision)
        limit = () if decision.every else decision.hosts
        try:
            result = self.playbooks.run(name, hosts=limit, extra=extra)
        except Exception:
            self.converged.unstamp(name, decision.hosts)  # half-run: no old stamp stays
            raise
        self.converged.stamp(name, digest, decision.hosts)
        return result
