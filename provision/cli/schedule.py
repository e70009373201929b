"""`provision schedule --at HH:MM [--restore-drill] [--notify URL] [--user|--system]`:
a systemd timer that runs `provision rebuild --wait` on this lab every day;
`--remove` takes it away. See provision/schedule.py."""

from __future__ import annotations

import click

from provision.cli.base import Command
from provision.cli.common import console, inventory_option, reports_errors
from provision.errors import UsageError


def _rebuild_notify() -> tuple[bool, str | None]:
    """(rebuild takes --notify, the variable it also reads the URL from, if any)."""
    from provision.cli.rebuild import command as rebuild

    for param in rebuild.params:
        if param.name == "notify":
            return True, param.envvar if isinstance(param.envvar, str) else None
    return False, None


class ScheduleCommand(Command):
    """Reads the config and writes only the two unit files: it changes no lab, so it
    takes no lock and opens no run."""

    def __init__(
        self,
        inventory: str | None,
        at: str | None,
        restore_drill: bool,
        notify: str | None,
        system: bool,
        remove: bool,
    ) -> None:
        from provision.report.notify import check_url
        from provision.schedule import (
            Schedule,
            check_scope_allowed,
            parse_at,
            system_scope,
            user_scope,
        )

        # the arguments first: a wrong one is named before any config is read
        self.schedule: Schedule | None = None
        if remove:
            given = [
                name
                for name, value in (
                    ("--at", at),
                    ("--restore-drill", restore_drill),
                    ("--notify", notify),
                )
                if value not in (None, False)
            ]
            if given:
                raise UsageError(
                    f"--remove takes no {', '.join(given)}: it removes the schedule\n"
                    "  fix: `provision schedule --remove [-i INVENTORY] [--user|--system]`"
                )
        else:
            if at is None:
                raise UsageError(
                    "--at is missing: when to rebuild every day\n"
                    "  fix: e.g. `provision schedule --at 02:30` (the host's local time)"
                )
            hour, minute = parse_at(at)
            takes, notify_env = _rebuild_notify()
            if notify is not None:
                check_url(notify)
                if not takes:
                    raise UsageError(
                        "--notify: this provision's `rebuild` has no --notify option, so "
                        "the scheduled run would fail\n"
                        "  fix: update provision, or schedule without --notify"
                    )
            self.schedule = Schedule(hour, minute, restore_drill, notify, notify_env)
        self.scope = system_scope() if system else user_scope()
        check_scope_allowed(self.scope)
        super().__init__(inventory)

    def execute(self) -> None:
        if self.schedule is None:
            self._remove()
        else:
            self._install(self.schedule)

    def _install(self, schedule) -> None:
        from provision.schedule import install

        out = console()
        done = install(self.inv, self.config.cluster.name, schedule, self.scope)
        out.print(f"wrote {done.service}")
        out.print(f"wrote {done.timer}")
        out.print(f"checked: {done.checked}; read back as written")
        via = (
            f" (--notify from ${schedule.notify_env})"
            if schedule.notify and schedule.notify_env
            else ""
        )
        out.print(f"runs every day at {schedule.at}: {' '.join(done.argv)}{via}")
        where = "" if self.scope.name == "system" else " --user"
        if done.manager:
            out.print(
                f"enabled and started {done.timer.name}; next run {done.next_run}",
                style="bold green",
            )
        else:
            out.print(
                f"no systemd {self.scope.name} manager answered here "
                f"(`systemctl{where} is-system-running`: {done.manager_state}): the units "
                "are written and checked, but the timer is NOT enabled; run these where "
                f"that manager runs ({self._where()}):",
                style="yellow",
            )
            for line in done.commands:
                out.print(f"    {line}")
            out.print(f"it would first run {done.next_run}")
        if not done.linger:
            out.print(
                "your user manager runs only while you are logged in: "
                "`loginctl enable-linger` keeps it running (and the timer firing) when you "
                "are not",
                style="yellow",
            )
        out.print(
            f"logs: journalctl{where} -u {done.service.name}; reports: "
            f"{self.inv.state_dir / 'reports'}; next run and last verdict: provision status"
        )

    def _where(self) -> str:
        if self.scope.name == "system":
            return "a host booted with systemd"
        return "a login session of yours; over sudo or su, with XDG_RUNTIME_DIR=/run/user/$(id -u)"

    def _remove(self) -> None:
        from provision.schedule import remove

        out = console()
        done = remove(self.inv, self.scope)
        for path in done.removed:
            out.print(f"removed {path}")
        for path, why in done.left:
            out.print(f"left {path}: {why}", style="yellow")
        for note in done.notes:
            out.print(f"note: {note}", style="yellow")
        if not done.removed:
            out.print(f"no schedule of this lab in {self.scope.unit_dir}")
        elif not done.manager and done.commands:
            out.print(
                f"no systemd {self.scope.name} manager answered ({done.manager_state}): if "
                "one had loaded the timer, run where it runs:",
                style="yellow",
            )
            for line in done.commands:
                out.print(f"    {line}")


@click.command("schedule")
@inventory_option
@click.option("--at", metavar="HH:MM", help="rebuild every day at this time (local time)")
@click.option(
    "--restore-drill",
    is_flag=True,
    help="run `rebuild --restore-drill` (backup, rebuild, restore, compare)",
)
@click.option(
    "--notify",
    metavar="URL",
    help="passed to `rebuild --notify` (http or https, no user:password)",
)
@click.option(
    "--user/--system",
    "user",
    default=True,
    help="the user's systemd manager, ~/.config/systemd/user (default), or the system's, "
    "/etc/systemd/system (root only)",
)
@click.option("--remove", is_flag=True, help="disable and remove this lab's timer and service")
@reports_errors
def command(
    inventory: str | None,
    at: str | None,
    restore_drill: bool,
    notify: str | None,
    user: bool,
    remove: bool,
) -> None:
    """Rebuild the lab every day at --at with a systemd timer (`provision rebuild --wait`).

    Writes provision-rebuild-<lab>.service and .timer, checked with `systemd-analyze
    verify`, then reloads systemd and enables the timer. Where no systemd manager
    answers (a container, CI, a shell outside your session) the files are still
    written and checked, the commands to enable them are printed, and the exit is 0.
    A unit file provision did not write for this lab is never changed or removed."""
    ScheduleCommand(inventory, at, restore_drill, notify, not user, remove).main()
