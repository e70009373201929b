"""The restore drill of `provision rebuild --restore-drill`: a restore proven on
the lab every night.

    markers   on the running lab: a ConfigMap, MySQL rows, a durable RabbitMQ
              queue; then what to compare is measured: object counts of kinds
              that only people and provision make, MySQL's table checksum, the
              durable queues
    backup    `provision backup`
    destroy   the machines go
    up        the lab made again from cluster.yml (a new cluster: new CA, new etcd)
    restore   `provision restore` of that backup (which verifies)
    compare   the same measures: every marker back, every count and the checksum equal

destroy and up are the rebuild's own phases. Each drill stage's time goes into
the rebuild report as a phase ("drill-backup", …)
and so into the history chart; the comparison is the report's `drill` section.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.errors import VerifyFailed
from provision.project import Inventory
from provision.remote import RUN, Shell, control_plane_shell, kubectl
from provision.runlog import RunLog
from provision.verify.checks import in_pod

MARK = "provision-drill"
ROWS = 100
# Kinds that only people and provision make: their counts must come back exactly
# (pods, events, leases, endpoints and replica sets churn on their own, and so do
# bootstrap tokens: a join's short-lived token, in the backup, expires and is
# deleted by the token cleaner).
COUNTED = (
    "namespaces",
    "configmaps",
    "secrets",
    "services",
    "serviceaccounts",
    "deployments",
    "statefulsets",
    "daemonsets",
    "persistentvolumes",
    "persistentvolumeclaims",
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
    "customresourcedefinitions",
)

SELECT = {"secrets": ("--field-selector", "type!=bootstrap.kubernetes.io/token")}


class DrillFailed(VerifyFailed):
    """The restored lab differs from the backed-up one."""


@dataclass
class DrillResult:
    kind: str = "restore"  # restore | upgrade <from> -> <to>
    token: str = ""
    archive: str = ""
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.after) and not self.differences and not self.error

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "passed": self.passed,
            "archive": self.archive,
            "before": self.before,
            "after": self.after,
            "differences": self.differences,
            "stages": self.stages,
            "error": self.error,
        }


MYSQL = 'mysql -h 127.0.0.1 -N -u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" 2>/dev/null'
RABBIT_API = (
    'curl -sf -u "$RABBITMQ_DEFAULT_USER:$RABBITMQ_DEFAULT_PASS" http://127.0.0.1:15672/api'
)


class Measures:
    """The markers and what a drill compares, on the lab's control plane."""

    def __init__(self, sh: Shell, config: ClusterConfig):
        from provision.remote import api

        self.sh: Shell = lambda argv, check=True: api(sh, argv) if check else sh(argv, check=False)
        self.deployed = config.addons.deployed()

    def write(self, token: str) -> None:
        sh = self.sh
        marks = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MARK}},
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": MARK, "namespace": MARK},
                "data": {"token": token},
            },
        ]
        for mark in marks:
            sh([RUN, "--text", json.dumps(mark), "--", *kubectl("apply", "-f", "-")])
        if "mysql" in self.deployed:
            rows = ",".join(f"({i},'{token}-{i}')" for i in range(ROWS))
            sql = (
                "DROP TABLE IF EXISTS provision_drill; "
                "CREATE TABLE provision_drill (id INT PRIMARY KEY, v VARCHAR(80)); "
                f"INSERT INTO provision_drill VALUES {rows};"
            )
            sh(in_pod("mysql-0", f'{MYSQL} -e "{sql}"'))
        if "rabbitmq" in self.deployed:
            sh(
                in_pod(
                    "rabbitmq-0",
                    f"{RABBIT_API}/queues/%2F/{MARK} -X PUT -H content-type:application/json "
                    "-d '{\"durable\":true}'",
                )
            )

    def table_checksums(self) -> dict[str, str]:
        """CHECKSUM TABLE of every table of the app's database (the people's data as
        well as the markers), but verify's own, which grows at each verify."""
        names = self.sh(
            in_pod(
                "mysql-0",
                f'{MYSQL} -e "SELECT table_name FROM information_schema.tables '
                "WHERE table_schema = DATABASE() AND table_name <> 'provision_verify' "
                'ORDER BY table_name"',
            )
        ).split()
        if not names:
            return {}
        got = self.sh(in_pod("mysql-0", f'{MYSQL} -e "CHECKSUM TABLE {", ".join(names)}"'))
        return {
            line.split()[0].split(".", 1)[-1]: line.split()[-1]
            for line in got.splitlines()
            if len(line.split()) == 2
        }

    def measure(self) -> dict:
        sh = self.sh
        counts = {}
        for kind in COUNTED:
            names = sh(kubectl("get", kind, "-A", "-o", "name", *SELECT.get(kind, ()))).split()
            counts[kind] = len(names)
        found: dict[str, object] = {"counts": counts}
        found["configmap"] = sh(
            kubectl("-n", MARK, "get", "configmap", MARK, "-o", "jsonpath={.data.token}"),
            check=False,
        ).strip()
        if "mysql" in self.deployed:
            got = sh(in_pod("mysql-0", f'{MYSQL} -e "CHECKSUM TABLE provision_drill" || true'))
            rows = sh(
                in_pod("mysql-0", f'{MYSQL} -e "SELECT COUNT(*) FROM provision_drill" || true')
            )
            found["mysql_checksum"] = got.split()[-1] if got.split() else ""
            found["mysql_rows"] = rows.strip()
            found["mysql_tables"] = self.table_checksums()
        if "rabbitmq" in self.deployed:
            queues = json.loads(sh(in_pod("rabbitmq-0", f"{RABBIT_API}/queues")) or "[]")
            found["durable_queues"] = sorted(q["name"] for q in queues if q.get("durable"))
        return found


def compare(before: dict, after: dict, token: str) -> list[str]:
    """What differs between the lab backed up and the lab restored."""
    out = []
    if after.get("configmap") != token:
        out.append(f"ConfigMap {MARK}/{MARK}: token {after.get('configmap')!r}, wanted {token!r}")
    for kind, n in before.get("counts", {}).items():
        if after.get("counts", {}).get(kind) != n:
            out.append(f"{kind}: {after.get('counts', {}).get(kind)} after, {n} before")
    for key in ("mysql_checksum", "mysql_rows"):
        if key in before and before[key] != after.get(key):
            out.append(f"MySQL {key}: {after.get(key)!r} after, {before[key]!r} before")
    tables, now = before.get("mysql_tables", {}), after.get("mysql_tables", {})
    for table in sorted(tables):
        if now.get(table) != tables[table]:
            out.append(
                f"MySQL table {table}: checksum {now.get(table)!r}, {tables[table]!r} before"
            )
    if "durable_queues" in before:
        lost = set(before["durable_queues"]) - set(after.get("durable_queues", []))
        if lost:
            out.append(f"RabbitMQ durable queues lost: {', '.join(sorted(lost))}")
    return out


class _Drill:
    """What both drills do: timed stages, the markers and their measures on the
    running lab, and the same measures compared once it went through its ordeal."""

    inv: Inventory
    config: ClusterConfig
    log: RunLog
    result: DrillResult

    def _stage(self, name: str, fn) -> None:
        self.log.say(f"==> drill: {name}", style="bold")
        start = time.monotonic()
        try:
            fn()
        finally:
            self.result.stages[name] = round(time.monotonic() - start, 1)
        self.log.say(f"<== drill: {name} done in {self.result.stages[name]:.1f} s", style="green")

    def _markers(self) -> None:
        """The stage `markers`: written, then everything the drill compares measured."""
        self.result.token = secrets.token_hex(8)

        def write() -> None:
            with control_plane_shell(self.inv, self.config) as on:
                m = Measures(on["control-plane"], self.config)
                m.write(self.result.token)
                self.result.before = m.measure()

        self._stage("markers", write)

    def _compare(self, config: ClusterConfig, failed: str) -> None:
        """The stage `compare`: measured again on the lab as `config` makes it; a
        DrillFailed("<failed>: N differences ...") naming each difference."""

        def check() -> None:
            with control_plane_shell(self.inv, config) as on:
                self.result.after = Measures(on["control-plane"], config).measure()
            self.result.differences = compare(
                self.result.before, self.result.after, self.result.token
            )
            for line in self.result.differences:
                self.log.say(f"  drill: DIFFERS {line}", style="red")
            if self.result.differences:
                raise DrillFailed(f"{failed}: {len(self.result.differences)} differences")
            counts = self.result.after["counts"]
            self.log.say(
                f"drill: every marker kept, {sum(counts.values())} objects of "
                f"{len(counts)} kinds as before, MySQL checksum "
                f"{self.result.after.get('mysql_checksum', '-')}",
                style="bold green",
            )

        self._stage("compare", check)


class Drill(_Drill):
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log
        self.result = DrillResult()

    def before(self) -> None:
        """Markers and measures on the running lab, then its backup."""
        from provision.backup.take import Backup

        def backup() -> None:
            self.result.archive = str(Backup(self.inv, self.config, self.log).run())

        self._markers()
        self._stage("backup", backup)

    def after(self) -> None:
        """Once the lab is made again: restore, compare."""
        from provision.backup.restore import Restore

        self._stage(
            "restore",
            lambda: Restore(self.inv, self.config, self.log).run(
                Path(self.result.archive), force=False
            ),
        )
        self._compare(self.config, "restore drill: the lab backed up and the lab restored")


def previous_release(held: list[str], current: str) -> str | None:
    """The newest release of the minor before `current` among those a bundle holds."""
    major, minor, *_ = (int(x) for x in current.split("."))
    earlier = [
        tuple(int(x) for x in v.split("."))
        for v in held
        if v.count(".") == 2 and all(x.isdigit() for x in v.split("."))
    ]
    fits = [v for v in earlier if v[0] == major and v[1] == minor - 1]
    return ".".join(map(str, max(fits))) if fits else None


class UpgradeDrill(_Drill):
    """The upgrade drill of `provision rebuild --upgrade-drill`: the lab made at the
    previous release the bundle holds, the restore drill's markers put in, `provision
    upgrade` to the pinned release, verify, and the same measures compared. Each stage
    (the upgrade's too) is a phase of the rebuild report."""

    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        from provision.bundle.manifest import bundle_releases
        from provision.config.edit import at_kubernetes
        from provision.errors import UsageError
        from provision.sources import resolve_sources

        self.inv = inv
        self.log = log
        self.target = config.versions.kubernetes
        sources = resolve_sources(config)
        held = bundle_releases(sources.bundle_dir) if sources.artifacts == "bundle" else []
        previous = previous_release(held, self.target)
        if previous is None:
            minor = self.target.split(".")
            want = f"{minor[0]}.{int(minor[1]) - 1}"
            raise UsageError(
                f"--upgrade-drill: the bundle {sources.bundle_dir} holds no {want}.x release "
                f"(it holds {', '.join(held) or 'none'}): the drill makes the lab at the "
                f"previous minor and upgrades it to {self.target}\n  nothing was changed\n"
                f"  fix: `provision bundle build --also {want}.N` (a {want} release the Go "
                "module proxy serves)"
            )
        self.previous = previous
        self.config = at_kubernetes(inv.cluster_file, previous)  # the lab as it starts
        self.result = DrillResult(kind=f"upgrade {previous} -> {self.target}")

    def markers(self) -> None:
        self._markers()

    def upgrade(self) -> None:
        from provision.upgrade import Upgrade

        run = Upgrade(self.inv, self.config, self.log, self.target)
        try:
            run.run()
        finally:
            self.result.archive = run.archive
            for name, seconds in run.timings():
                self.result.stages[f"upgrade-{name.replace(' ', '-')}"] = seconds

    def compare(self) -> None:
        from provision.config.load import load

        self._compare(
            load(self.inv.cluster_file),  # the lab as the upgrade left it: the pinned release
            f"upgrade drill: the lab at {self.previous} and the lab upgraded to {self.target}",
        )
