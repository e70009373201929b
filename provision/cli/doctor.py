import sys

import click

from provision.cli.base import Command
from provision.cli.common import console, inventory_option, reports_errors


class DoctorCommand(Command):
    def execute(self) -> None:
        from rich.table import Table

        from provision.doctor import lab_checks, run_checks
        from provision.machines.factory import recorded_provider
        from provision.machines.provider import ProviderChoice, choose_provider

        recorded = recorded_provider(self.inv)
        choice = (
            ProviderChoice(recorded, "the lab's machines were made with it")
            if recorded
            else choose_provider(self.config)
        )
        provider = choice.provider
        console().print(f"provider: {provider} ({choice.reason})")
        checks = run_checks(self.config, provider, self.inv.cache_dir)
        checks += lab_checks(self.inv, self.config)
        table = Table(title=f"host checks for provider {provider}")
        for col in ("check", "result", "detail", "fix"):
            table.add_column(col)
        for c in checks:
            table.add_row(
                c.name,
                ("warning" if c.warning else "ok") if c.ok else "PROBLEM",
                c.detail,
                "" if c.ok and not c.warning else c.fix,
                style=("yellow" if c.warning else None) if c.ok else "red",
            )
        console().print(table)
        failed = [c for c in checks if not c.ok]
        if failed:
            console(stderr=True).print(f"{len(failed)} problem(s); run the fixes above")
            sys.exit(3)


@click.command("doctor")
@inventory_option
@reports_errors
def command(inventory: str | None) -> None:
    """Check this host for the chosen provider; print a fix for each problem."""
    DoctorCommand(inventory).main()
