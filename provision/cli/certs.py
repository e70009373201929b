"""`provision certs check|renew`: the cluster's certificates."""

from __future__ import annotations

import json

import click

from provision.cli.base import Command, RunCommand
from provision.cli.common import console, inventory_option, reports_errors, wait_option


class CheckCommand(Command):
    def __init__(self, inventory: str | None, as_json: bool) -> None:
        super().__init__(inventory)
        self.as_json = as_json

    def execute(self) -> None:
        from rich.table import Table

        from provision.certs import describe, expiries, summary

        found = expiries(self.inv, self.config)
        if self.as_json:
            data = {**summary(found), "certificates": [e.as_dict() for e in found]}
            click.echo(json.dumps(data, indent=2))
            return
        table = Table(title=f"certificates of {self.config.cluster.name}", title_justify="left")
        for col in ("node", "certificate", "expires (UTC)", "days left"):
            table.add_column(col)
        for e in found:
            table.add_row(e.node, e.name, f"{e.not_after:%Y-%m-%d %H:%M}", f"{e.days_left:.0f}")
        out = console()
        out.print(table)
        out.print(describe(found), markup=False, style="yellow" if summary(found)["warn"] else None)


class RenewCommand(RunCommand):
    run_name = "certs-renew"

    def title(self) -> str:
        return "certs renew"

    def execute(self) -> None:
        from provision.certs import renew
        from provision.machines.factory import machines_for
        from provision.playbooks.kubeadm import wait_scale
        from provision.verify.run import Verify

        provider = machines_for(self.inv, self.config, self.log).provider
        renew(self.inv, self.config, self.log, 300 * wait_scale(self.config, provider))
        Verify(self.inv, self.config, self.log).run()

    def done(self) -> None:
        self.log.say(f"certs renew: done in {self.log.elapsed():.1f} s", style="bold green")


@click.group("certs")
def command() -> None:
    """The cluster's certificates: when they expire; renew them (kubeadm's way)."""


@command.command("check")
@inventory_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON document (for scripts)")
@reports_errors
def check(inventory: str | None, as_json: bool) -> None:
    """Every certificate's expiry, read on the nodes (earliest first)."""
    CheckCommand(inventory, as_json).main()


@command.command("renew")
@inventory_option
@wait_option
@reports_errors
def renew(inventory: str | None) -> None:
    """kubeadm certs renew all; the control plane restarted; kubeconfig fetched; verify."""
    RenewCommand(inventory).main()
