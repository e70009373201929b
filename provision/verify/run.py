"""`provision verify` and the up's verify phase: run the checks for what the
config enables, report each one, and fail (exit 7) when any fails."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from provision.addons.registry import ADDONS, addon_of
from provision.config.model import ClusterConfig, addon_of_part
from provision.errors import VerifyFailed
from provision.files import write_state
from provision.project import Inventory
from provision.runlog import RunLog
from provision.verify import checks as c

# Checks run side by side (each on its own SSH channel): most of their time is
# waiting for a pod or an API answer, not CPU.
PARALLEL = 4


@dataclass
class Result:
    addon: str
    check: str
    status: str  # passed | failed | validated
    detail: str
    seconds: float


def plan(config: ClusterConfig, manifests: Path) -> list[c.Check]:
    """The checks, in order: each deployed part's real job, a dry run of each
    validate_only part (its manifest in `manifests`, as the addons phase rendered
    it), and the closest real check where a part cannot run."""
    a = config.addons
    found = [
        c.Check("cluster", "every node Ready", c.nodes_ready),
        c.Check("cluster", "systemd running on the control plane", c.systemd_running),
    ]
    if config.workers:
        found.append(
            c.Check("cluster", "systemd running on a worker", c.systemd_running, on="worker")
        )
    deployed = a.deployed()
    if a.volumes == "local" or "nfs" in deployed:
        from provision.playbooks.kubeadm import wait_scale

        roundtrip = c.storage_roundtrip(120 * wait_scale(config))
        found.append(c.Check("storage", "a claim binds; a pod writes and reads", roundtrip))
    for part in a.parts():
        if part in deployed:
            found += addon_of(part).part_checks.get(part, ())
        else:
            found.append(
                c.Check(
                    addon_of_part(part),
                    f"{part} manifests (validate only)",
                    c.dry_run(manifests / f"{part}.yaml"),
                    False,
                )
            )
    enabled = a.enabled()
    for addon in ADDONS:
        if addon.name in enabled:
            found += addon.more_checks(config, deployed)
    return found


class Verify:
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log

    @staticmethod
    def _one(check: c.Check, sh) -> Result:
        started = time.monotonic()
        try:
            detail = check.run(sh)
            status = "passed" if check.real else "validated"
        except c.CheckFailed as e:
            detail, status = str(e), "failed"
        return Result(check.addon, check.name, status, detail, round(time.monotonic() - started, 1))

    def run(self) -> list[Result]:
        from provision.remote import shells

        nodes = {"control-plane": self.config.control_plane.name}
        if self.config.workers:
            nodes["worker"] = self.config.workers[0].name
        results = []
        with (
            shells(self.inv, nodes, error=c.CheckFailed) as on,
            ThreadPoolExecutor(PARALLEL) as pool,
        ):
            for shell in on.values():
                shell(["true"])  # connected before the threads share it
            checks = plan(self.config, self.inv.addons_dir)
            running = [pool.submit(self._one, check, on[check.on]) for check in checks]
            for future in running:  # reported in plan order, as each one ends
                result = future.result()
                results.append(result)
                style = {"passed": "green", "validated": "cyan", "failed": "red"}[result.status]
                self.log.say(
                    f"  {result.status.upper():9} {result.addon:8} {result.check}: "
                    f"{result.detail} ({result.seconds:.1f} s)",
                    style=style,
                )
        write_state(
            self.log.dir / "verify.json", json.dumps([asdict(r) for r in results], indent=2) + "\n"
        )
        failed = [r for r in results if r.status == "failed"]
        real = sum(r.status == "passed" for r in results)
        validated = sum(r.status == "validated" for r in results)
        if failed:
            raise VerifyFailed(
                f"verify: {len(failed)} of {len(results)} checks failed: "
                + ", ".join(f"{r.addon} ({r.check})" for r in failed)
                + f"\n  report: {self.log.dir / 'verify.json'}"
            )
        self.log.say(
            f"verify: {real} real checks passed, {validated} add-on parts validated only",
            style="bold green",
        )
        return results
