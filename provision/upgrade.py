"""`provision upgrade --to VERSION`: the lab to the next Kubernetes release, the
kubeadm way, with the cluster serving throughout.

Everything is checked before anything changes (exit 2, nothing changed): one minor
at a time and no downgrade, the config valid at the target (a minor this tool
knows, a Calico release tested with it), the target's binaries and images in the
bundle and intact, every node Ready at the running release or the target (the
version skew policy: no kubelet newer than the API server, none more than one
minor behind), and every verify check green. Then, each a recorded stage
(backup/stages.py), so a killed or failed upgrade is finished by running the same
command again:

    backup          a fresh backup of the lab (kept with the record)
    images          the target's images on every node
    control-plane   kubeadm upgrade plan and apply; drain, the kubelet, uncordon
    node <worker>   one worker at a time: drain, kubeadm upgrade node, the kubelet,
                    uncordon, Ready at the target; a worker that fails stops the roll
    verify          every check green at the target
    config          cluster.yml's versions.kubernetes set to the target, comments kept
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from provision.config.model import ClusterConfig
from provision.errors import BundleError, UsageError
from provision.project import Inventory, cli_for
from provision.runlog import RunLog

if TYPE_CHECKING:
    from provision.backup.stages import Stages

VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def parse(version: str, what: str) -> tuple[int, int, int]:
    m = VERSION.match(version)
    if not m:
        raise UsageError(
            f"{what} '{version[:40]}' is not a Kubernetes release\n  nothing was changed\n"
            "  fix: give MAJOR.MINOR.PATCH, e.g. 1.35.4"
        )
    major, minor, patch = (int(g) for g in m.groups())
    return major, minor, patch


def check_step(current: str, target: str, cluster_file: Path) -> None:
    """One minor at a time, never down: the kubeadm rule (kubeadm refuses a skip)."""
    have, want = parse(current, f"{cluster_file}: versions.kubernetes"), parse(target, "--to")
    if want < have:
        raise UsageError(
            f"--to {target} is older than the lab's Kubernetes {current}: provision does "
            "not downgrade (kubeadm cannot)\n  nothing was changed\n"
            f"  fix: keep {current}, or rebuild the lab at {target} from a backup taken at it"
        )
    if want[0] != have[0] or want[1] > have[1] + 1:
        step = f"{have[0]}.{have[1] + 1}"
        raise UsageError(
            f"--to {target} skips a minor: the lab runs {current}, and Kubernetes upgrades "
            "one minor at a time\n  nothing was changed\n"
            f"  fix: upgrade to the newest {step}.x first, then to {target}"
        )


def check_skew(nodes: list[dict], server: str, current: str, target: str) -> list[str]:
    """What breaks the version skew policy before (or while resuming) an upgrade from
    `current` to `target`: the API server at either, every kubelet at either and none
    newer than the API server. [] when all is well."""
    allowed = {f"v{current}", f"v{target}"}
    problems = []
    if server not in allowed:
        problems.append(f"the API server runs {server}, not {current} or {target}")
    server_v = parse(server, "the API server") if VERSION.match(server) else None
    for node in nodes:
        name = node["metadata"]["name"]
        kubelet = node["status"]["nodeInfo"]["kubeletVersion"]
        if kubelet not in allowed:
            problems.append(f"{name}'s kubelet runs {kubelet}, not {current} or {target}")
        elif server_v and parse(kubelet, name) > server_v:
            problems.append(f"{name}'s kubelet ({kubelet}) is newer than the API server")
    return problems


def not_ready(nodes: list[dict]) -> list[str]:
    bad = []
    for node in nodes:
        ready = [c for c in node["status"].get("conditions", []) if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            bad.append(node["metadata"]["name"])
    return bad


class Upgrade:
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog, target: str):
        self.inv = inv
        self.config = config
        self.log = log
        self.current = config.versions.kubernetes
        self.target = target.lstrip("v")
        self.archive = ""  # the backup taken before any change
        self.stages: Stages | None = None

    def operation(self) -> str:
        return f"upgrade {self.target}"

    # -- checks, before any change ---------------------------------------------------
    def target_config(self) -> ClusterConfig:
        """The config at the target, checked as any config is (the target's minor,
        Calico's pairing); then the target in the bundle, intact."""
        from provision.config.edit import at_kubernetes

        check_step(self.current, self.target, self.inv.cluster_file)
        target = at_kubernetes(self.inv.cluster_file, self.target)
        self.check_bundle(target)
        return target

    def check_bundle(self, target: ClusterConfig) -> None:
        from provision.bundle.manifest import bundle_releases, read_manifest, verify
        from provision.sources import resolve_sources

        sources = resolve_sources(target)
        if sources.artifacts != "bundle":
            return  # online: the Kubernetes apt repository of the target's minor
        held = bundle_releases(sources.bundle_dir)
        if self.target not in held:
            raise UsageError(
                f"the bundle {sources.bundle_dir} holds Kubernetes {', '.join(held) or 'nothing'}"
                f", not {self.target}\n  nothing was changed\n"
                f"  fix: `provision bundle build --also {self.target}{self.cli()}`"
            )
        try:
            verify(sources.bundle_dir, read_manifest(sources.bundle_dir, self.target))
        except BundleError as e:
            raise UsageError(f"{e}\n  nothing was changed") from None

    def check_cluster(self, resuming: bool) -> None:
        """Every node Ready at the running release or the target, the skew policy kept,
        and (unless an unfinished upgrade is resumed) every verify check green."""
        from provision.remote import cluster_nodes, control_plane_shell, kubectl

        if not (self.inv.state_dir / "kubeconfig").exists():
            raise UsageError(
                f"the lab {self.config.cluster.name} has no cluster to upgrade\n"
                f"  fix: `provision up{self.cli()}` makes it (at the pinned {self.current})"
            )
        with control_plane_shell(self.inv, self.config) as on:
            sh = on["control-plane"]
            nodes = cluster_nodes(sh)
            server = json.loads(sh(kubectl("get", "--raw", "/version")))["gitVersion"]
        problems = check_skew(nodes, server, self.current, self.target)
        names = {n["metadata"]["name"] for n in nodes}
        missing = sorted({n.name for n in self.config.nodes} - names)
        if missing:
            problems.append(f"not in the cluster: {', '.join(missing)}")
        down = not_ready(nodes)
        if down and not resuming:
            problems.append(f"not Ready: {', '.join(down)}")
        if problems:
            raise UsageError(
                "the cluster is not ready to upgrade:\n    "
                + "\n    ".join(problems)
                + f"\n  nothing was changed\n  fix: `provision up{self.cli()}` repairs the lab; "
                "then run the upgrade again"
            )
        if not resuming:
            from provision.errors import VerifyFailed
            from provision.verify.run import Verify

            self.log.say("==> upgrade: verify before any change", style="bold")
            try:
                Verify(self.inv, self.config, self.log).run()
            except VerifyFailed as e:
                raise UsageError(
                    f"{e}\n  nothing was changed\n  fix: make verify pass first "
                    f"(`provision up{self.cli()}`), then upgrade"
                ) from None

    def cli(self) -> str:
        return cli_for(self.inv.name)

    # -- the roll ----------------------------------------------------------------------
    def run(self) -> list[tuple[str, float]]:
        from provision.backup.stages import Stages

        record = self.inv.state_dir / "operation.json"
        stages = self.stages = Stages.begin(
            self.inv.state_dir, self.operation(), self.log, "the backup is not taken again"
        )
        resuming = bool(stages.entries)
        self.archive = stages.archive
        if not resuming and self.current == self.target:
            self.log.say(f"upgrade: the lab runs Kubernetes {self.target} already; nothing to do")
            return []
        target = self.target_config()
        self.check_cluster(resuming)
        self.log.say(
            f"upgrade: Kubernetes {self.current} -> {self.target}, "
            f"{len(self.config.workers)} workers one at a time (record: {record})"
        )

        def backup() -> None:
            from provision.backup.take import Backup

            stages.archive = self.archive = str(Backup(self.inv, self.config, self.log).run())
            stages.save()

        cp = self.config.control_plane.name
        stages.step("backup", backup, self.log)
        stages.step("images", lambda: self._playbook(target, "images", "k8s_cluster"), self.log)
        stages.step("control-plane", lambda: self._node(target, "control-plane", cp), self.log)
        for worker in self.config.workers:
            name = worker.name
            stages.step(
                f"node {name}",
                lambda name=name: self._node(target, "worker", name),  # type: ignore[misc]
                self.log,
            )
        stages.step("verify", lambda: self._verify(target), self.log)
        stages.step("config", self._write_config, self.log)
        stages.finish()
        return stages.timings()

    def timings(self) -> list[tuple[str, float]]:
        """Each stage this run (or the run it resumed) recorded, with its seconds."""
        return self.stages.timings() if self.stages is not None else []

    def _node(self, target: ClusterConfig, step: str, name: str) -> None:
        """One node upgraded, then back in service before the next is drained: Ready
        at the target (the playbook waits for it), every pod on it Ready (a daemon
        set's pod that the drain left running counts as it is), every add-on rolled
        out."""
        from provision.remote import control_plane_shell
        from provision.verify.settle import NotSettled, settle_lab

        self._playbook(target, step, name)
        with control_plane_shell(self.inv, target, error=NotSettled) as sh:
            settle_lab(sh["control-plane"], target, [name], 0, self.log.say)

    def _playbook(self, target: ClusterConfig, step: str, hosts: str) -> None:
        from provision.playbooks.runner import Playbooks

        Playbooks(self.inv, target, self.log).run(
            "upgrade.yml", [hosts], {"node_target": hosts, "kube_upgrade_step": step}
        )

    def _verify(self, target: ClusterConfig) -> None:
        from provision.verify.run import Verify

        Verify(self.inv, target, self.log).run()

    def _write_config(self) -> None:
        from provision.config.edit import replace_config, set_version
        from provision.config.load import read_config_text

        path = self.inv.cluster_file
        text = set_version(read_config_text(path), "kubernetes", self.target, str(path))
        self.config = replace_config(path, text)
        self.log.say(f"upgrade: {path} pins Kubernetes {self.target} now")
