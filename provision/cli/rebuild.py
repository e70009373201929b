"""`provision rebuild [--restore-drill | --upgrade-drill]`: destroy, up, verify, and
a report (for nightly jobs); with the restore drill, a backup of the lab before and
its restore after; with the upgrade drill, the lab made at the release before the
pinned one and upgraded to it, its markers compared.

For a nightly job: --notify posts the result to a webhook, --keep-reports bounds what
the reports directory keeps, and a lab another command is changing is skipped (exit
10, nothing written) unless --wait or --wait-timeout waits for it."""

from __future__ import annotations

from collections.abc import Callable

import click

from provision.cli.base import RunCommand
from provision.cli.common import (
    inventory_option,
    reports_errors,
    wait_option,
    wait_timeout_option,
)
from provision.report.notify import ON
from provision.report.write import KEEP_REPORTS


class RebuildCommand(RunCommand):
    run_name = "rebuild"

    def __init__(
        self,
        inventory: str | None,
        restore_drill: bool,
        notify: str | None = None,
        notify_on: str = "failure",
        keep_reports: int = KEEP_REPORTS,
        upgrade_drill: bool = False,
    ) -> None:
        super().__init__(inventory)
        self.restore_drill = restore_drill
        self.upgrade_drill = upgrade_drill
        self.notify = notify
        self.notify_on = notify_on
        self.keep_reports = keep_reports

    def main(self) -> None:
        from provision.errors import LabBusy
        from provision.lock import UNREADABLE, LabHeld

        try:
            super().main()
        except LabHeld as e:
            held = e.holder.short() if e.holder else UNREADABLE
            message = f"skipped: busy (held by {held})"
            skipped = {"verdict": "skipped", "cluster": self.config.cluster.name, "reason": message}
            self.announce(skipped, say=_stderr)
            raise LabBusy(
                f"{message}\n  fix: nothing to fix: the next run rebuilds; to wait for the "
                "holder instead, pass --wait or --wait-timeout SECONDS"
            ) from None

    def execute(self) -> None:
        from provision.errors import ProvisionError
        from provision.rebuild import Rebuild

        try:
            self.report, self.out = Rebuild(self.inv, self.config, self.log).run(
                self.restore_drill, self.keep_reports, self.upgrade_drill
            )
        except ProvisionError as e:
            # no report: the rebuild stopped before it (destroy failed, a state file refused)
            self.announce(
                {
                    "verdict": "error",
                    "cluster": self.config.cluster.name,
                    "error": str(e).splitlines()[0][:300],
                    "log": str(self.log.path),
                },
                say=self.log.say,
            )
            raise

    def done(self) -> None:
        from provision.errors import RebuildFailed
        from provision.report.notify import body

        for line in self.report.summary().splitlines():
            self.log.say(line)
        self.log.say(
            f"report: {self.out} (report.json, junit.xml, summary.txt); history: {self.out.parent}"
        )
        if not self.report.passed or self.notify_on == "always":
            self.announce(body(self.report, self.out), say=self.log.say)
        if not self.report.passed:
            raise RebuildFailed(f"rebuild failed; see {self.out / 'summary.txt'}")
        self.log.say("rebuild passed", style="bold green")

    def announce(self, data: dict, say: Callable[[str], None]) -> None:
        """Post `data` to the --notify webhook, if one was given; a failed post is said
        and changes nothing else."""
        if not self.notify:
            return
        from provision.report.notify import encode, post

        post(self.notify, encode(data, self._secrets()), say)

    def _secrets(self) -> list[str]:
        """The lab's stored credentials, hidden wherever they would appear in a post."""
        from provision.addons.secrets import secrets_file
        from provision.errors import ProvisionError
        from provision.files import read_json

        try:
            stored = read_json(secrets_file(self.inv.state_dir), "the add-ons' credentials")
        except ProvisionError:
            return []
        return [v for v in (stored or {}).values() if isinstance(v, str)]


def _stderr(line: str) -> None:
    from provision.cli.common import console

    console(stderr=True).print(line, markup=False)


def _notify_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from provision.errors import UsageError
    from provision.report.notify import check_url

    if value is None:
        return None
    try:
        return check_url(value)
    except UsageError as e:
        raise click.BadParameter(str(e).removeprefix("--notify: ")) from None


@click.command("rebuild")
@inventory_option
@wait_option
@wait_timeout_option
@click.option(
    "--restore-drill",
    is_flag=True,
    help="before: markers and a backup of the running lab; after: restore it, compare",
)
@click.option(
    "--upgrade-drill",
    is_flag=True,
    help="make the lab at the bundle's release before the pinned one, put markers in, "
    "`provision upgrade` to the pinned one, verify, compare",
)
@click.option(
    "--notify",
    metavar="URL",
    envvar="PROVISION_NOTIFY_URL",
    callback=_notify_url,
    help="post a JSON summary to this http(s) webhook (or $PROVISION_NOTIFY_URL, which "
    "keeps a token out of the process list)",
)
@click.option(
    "--notify-on",
    type=click.Choice(ON),
    default="failure",
    show_default=True,
    help="post only when the rebuild did not pass, or after every rebuild",
)
@click.option(
    "--keep-reports",
    type=click.IntRange(min=1),
    default=KEEP_REPORTS,
    show_default=True,
    metavar="N",
    help="keep the newest N reports and diagnostics archives; remove older ones",
)
@reports_errors
def command(
    inventory: str | None,
    restore_drill: bool,
    upgrade_drill: bool,
    notify: str | None,
    notify_on: str,
    keep_reports: int,
) -> None:
    """Destroy and rebuild the lab, verify it, write a report (exit 0 only if all passed).

    The report opens with the verdict and what changed since the last run and the
    last green one. With --restore-drill the backup of the lab as it was is restored
    onto the new one and compared: markers, object counts, MySQL's checksum. With
    --upgrade-drill the lab is made at the release before the pinned one (the bundle
    holds it: `bundle build --also`) and upgraded, its markers compared. A lab
    another command is changing is skipped (exit 10) unless --wait or --wait-timeout."""
    if restore_drill and upgrade_drill:
        raise click.UsageError("--restore-drill and --upgrade-drill: one drill per rebuild")
    RebuildCommand(inventory, restore_drill, notify, notify_on, keep_reports, upgrade_drill).main()
