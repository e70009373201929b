"""`provision rebuild`: destroy, up (which ends with verify), and a report compared
with the runs before. For nightly jobs: the exit code is 0 only when every phase and
check passed; the newest reports (and diagnostics archives) are kept, older ones
removed."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.destroy import destroy_lab
from provision.errors import ProvisionError
from provision.phases import PHASE_NAMES
from provision.project import Inventory
from provision.report.build import FailureReport, PhaseReport, Report
from provision.report.compare import compare
from provision.report.write import KEEP_REPORTS, prune, write_report
from provision.runlog import RunLog

# The digest recorded for an image addons.images names and the bundle does not hold.
NOT_IN_BUNDLE = "not in the bundle"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Rebuild:
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log

    def run(
        self,
        restore_drill: bool = False,
        keep_reports: int = KEEP_REPORTS,
        upgrade_drill: bool = False,
    ) -> tuple[Report, Path]:
        from provision.backup.drill import Drill, UpgradeDrill
        from provision.errors import VerifyFailed
        from provision.playbooks.runner import PlaybookFailed
        from provision.up import Up

        started, clock = _now(), time.monotonic()
        failures: list[FailureReport] = []
        # checked before anything is destroyed: the bundle holds the release before
        upgrading = UpgradeDrill(self.inv, self.config, self.log) if upgrade_drill else None
        drill = Drill(self.inv, self.config, self.log) if restore_drill else None
        if drill is not None:
            try:
                if not self.inv.hosts_file.exists():
                    self.log.say("drill: no lab to back up yet: making it first", style="yellow")
                    Up(self.inv, self.config, self.log).run()
                drill.before()
            except ProvisionError as e:
                drill.result.error = str(e)
                failures.append(FailureReport("drill", "", "", str(e)))
        self.log.say("==> destroy", style="bold")
        destroy_lab(self.inv, self.config, self.log)
        # the upgrade drill makes the lab at the release before the pinned one
        up = Up(self.inv, upgrading.config if upgrading else self.config, self.log)
        try:
            up.run()
        except PlaybookFailed as e:
            failures += [
                FailureReport(e.result.playbook, f.host, f.task, f.message)
                for f in e.result.failures
            ] or [FailureReport(e.result.playbook, "", "", str(e))]
        except VerifyFailed:
            pass  # each failed check is in the report's checks
        except ProvisionError as e:
            failures.append(FailureReport("up", "", "", str(e)))
        up_passed = not failures and up.state.all_done(PHASE_NAMES)
        if drill is not None and not drill.result.error:
            if not up_passed:
                drill.result.error = "the lab was not made again: nothing to restore onto"
            else:
                try:
                    drill.after()
                except ProvisionError as e:
                    drill.result.error = str(e).splitlines()[0]
                    failures.append(FailureReport("drill", "", "", str(e)))
        if upgrading is not None:
            if not up_passed:
                upgrading.result.error = "the lab was not made at the release before: no upgrade"
            else:
                for stage in (upgrading.markers, upgrading.upgrade, upgrading.compare):
                    try:
                        stage()
                    except ProvisionError as e:
                        upgrading.result.error = str(e).splitlines()[0]
                        failures.append(FailureReport("upgrade drill", "", "", str(e)))
                        break
        phases = [up.state.entry(name) for name in PHASE_NAMES]
        drilled = upgrading.result if upgrading else drill.result if drill else None
        if drilled is not None:
            stages = list(drilled.stages.items())
            phases += [
                PhaseReport(
                    f"drill-{name}",
                    "failed" if drilled.error and i == len(stages) - 1 else "done",
                    seconds=seconds,
                )
                for i, (name, seconds) in enumerate(stages)
            ]
        checks = list(up.verify_results or self._verify_results())
        images, images_from = self._images()
        report = Report(
            cluster=self.config.cluster.name,
            inventory=str(self.inv.cluster_file),
            started=started,
            ended=_now(),
            seconds=round(time.monotonic() - clock, 1),
            versions=self.config.versions.model_dump(),
            phases=phases,
            checks=checks,
            failures=failures,
            drill=drilled.as_dict() if drilled is not None else None,
            images=images,
            images_from=images_from,
        )
        reports = self.inv.state_dir / "reports"
        stamp = self.log.dir.name.removesuffix("-rebuild")
        report.compare = compare(report.as_dict(), reports, stamp)
        report.diagnostics = self.diagnostics(report, since=started)
        out = write_report(report, reports, stamp)
        try:
            pruned = prune(reports, self.diagnostics_dir, keep_reports)
        except (OSError, ProvisionError) as e:  # the report is written: say so, go on
            self.log.say(f"old reports left: {str(e).splitlines()[0]}", style="yellow")
        else:
            for path in pruned.removed:
                self.log.write(f"removed {path} (keeping the newest {keep_reports})")
            for line in pruned.left:
                self.log.say(f"left {line}", style="yellow")
        return report, out

    @property
    def diagnostics_dir(self) -> Path:
        """Where diagnostics archives are kept (diagnostics-*.tar.gz), pruned with the
        reports."""
        return self.inv.state_dir / "diagnostics"

    def diagnostics(self, report: Report, since: str) -> str | None:
        """The path of this run's diagnostics archive when the rebuild failed (None
        when it passed): `provision diagnose` run by itself, since the rebuild began,
        on what is left of the lab. Called before the report is written, so
        report.json, summary.txt and junit.xml all name it; a diagnose that fails is
        said and never changes the verdict."""
        if report.passed:
            return None
        from provision.report.diagnose import Diagnose

        self.log.say("==> diagnose (the rebuild failed)", style="bold")
        try:
            path = Diagnose(self.inv, self.config, self.log).run(
                since=datetime.fromisoformat(since)
            )
        except (OSError, ProvisionError) as e:
            self.log.say(f"diagnose failed: {str(e).splitlines()[0]}", style="yellow")
            return None
        self.log.say(f"diagnostics: {path}")
        return str(path)

    def _images(self) -> tuple[dict[str, str], str]:
        """The images' digests as far as they are cheaply known: the sha256 of each
        image archive the bundle's manifest lists (no image is read or hashed), and
        NOT_IN_BUNDLE for an addons.images reference the bundle lacks; none when the
        nodes pulled their images online."""
        from provision.bundle.manifest import NAME, read_manifest
        from provision.errors import BundleError
        from provision.sources import resolve_sources

        sources = resolve_sources(self.config)
        if sources.artifacts != "bundle":
            return {}, "not recorded: the nodes pulled their images online"
        try:
            artifacts = read_manifest(sources.bundle_dir, self.config.versions.kubernetes)
        except BundleError as e:
            return {}, f"not recorded: {str(e).splitlines()[0][:200]}"
        images = {a.name: f"sha256:{a.sha256}" for a in artifacts if a.kind == "image"}
        # the add-on images addons.images names: the bundle's archive when it holds
        # one (built by `bundle build`), else still what the lab ran (the diff shows
        # the change of reference)
        held = {a.name: f"sha256:{a.sha256}" for a in artifacts}
        for ref in self.config.addons.images.values():
            images[ref] = held.get(ref, NOT_IN_BUNDLE)
        return images, f"sha256 of each image archive in {sources.bundle_dir / NAME}"

    def _verify_results(self) -> list:
        """The checks of a verify phase that failed (they are in verify.json)."""
        from dataclasses import fields

        from provision.files import read_json, refuse
        from provision.verify.run import Result

        path = self.log.dir / "verify.json"
        what = "the verify phase's results"
        rows = read_json(path, what, shape=list, max_bytes=16 << 20)
        if rows is None:
            return []
        types: dict[str, tuple[type, ...]] = {f.name: (str,) for f in fields(Result)}
        types["seconds"] = (int, float)
        for r in rows:
            if not (
                isinstance(r, dict)
                and r.keys() == types.keys()
                and all(isinstance(r[k], t) for k, t in types.items())
            ):
                problem = f"an entry is not a check's result ({', '.join(types)})"
                raise refuse(path, what, problem, f"remove it (`rm {path}`) and run rebuild again")
        return [Result(**r) for r in rows]
