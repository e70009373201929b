import json

import click

from provision.cli.base import Command
from provision.cli.common import console, inventory_option, reports_errors


class StatusCommand(Command):
    def __init__(self, inventory: str | None, as_json: bool) -> None:
        super().__init__(inventory)
        self.as_json = as_json

    def execute(self) -> None:
        from rich.table import Table

        from provision.runlog import NoRunLog
        from provision.status import collect

        data = collect(self.inv, self.config, NoRunLog(console()))
        if self.as_json:
            click.echo(json.dumps(data, indent=2))
            return
        out = console()
        table = Table(title=f"machines of {self.config.cluster.name}", title_justify="left")
        for col in ("machine", "state", "provider", "node ip", "ssh"):
            table.add_column(col)
        for m in data["machines"]:
            style = None if m["state"] == "running" else "yellow"
            row = (m["name"], m["state"], m["provider"], m["node_ip"], m["ssh"] or "-")
            table.add_row(*row, style=style)
        out.print(table)
        lab = data["lab"]
        out.print(
            f"lab: {lab}", markup=False, style=None if lab.startswith("running") else "yellow"
        )
        for section, columns in (
            ("nodes", ("name", "ready", "version", "internal_ip")),
            ("addons", ("name", "kind", "ready", "wanted", "url")),
        ):
            rows = data[section]
            if isinstance(rows, str):
                out.print(f"{section}: {rows}", markup=False, style="yellow")
                continue
            table = Table(title=f"kubernetes {section}", title_justify="left")
            for col in columns:
                table.add_column(col.replace("_", " "))
            for r in rows:
                table.add_row(*(str(r[c]) for c in columns))
            out.print(table)
        certs = data["certificates"]
        if isinstance(certs, str):
            out.print(f"certificates: {certs}", markup=False, style="yellow")
        else:
            out.print(certs["line"], markup=False, style="yellow" if certs["warn"] else None)
        print_schedule(out, data.get("schedule"))


def print_schedule(out, schedule: dict | None) -> None:
    """The lab's nightly rebuild, when it has one (provision schedule): when it runs
    next, and what the newest rebuild said."""
    if not schedule:
        return
    for t in schedule["timers"]:
        out.print(
            f"schedule ({t['scope']}): every day at {t['at'] or '?'}; next run {t['next_run']} "
            f"(from {t['from']}); {t['timer']}"
        )
    last = schedule["last_rebuild"]
    line = f"last rebuild: {last['verdict']}"
    if "started" in last:
        line += f", started {last['started']}"
    if "drill_passed" in last:
        line += f", restore drill {'passed' if last['drill_passed'] else 'failed'}"
    if "report" in last:
        line += f" (report {last['report']})"
    if "reason" in last:
        line += f" ({last['reason']})"
    style = {"passed": None, "failed": "red"}.get(last["verdict"], "yellow")
    out.print(line, style=style)


@click.command("status")
@inventory_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON document (for scripts)")
@reports_errors
def command(inventory: str | None, as_json: bool) -> None:
    """Show machines, Kubernetes nodes and add-ons."""
    StatusCommand(inventory, as_json).main()
