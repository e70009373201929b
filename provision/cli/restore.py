"""`provision restore FILE`: a backup put back onto this lab, then verified."""

from __future__ import annotations

from pathlib import Path

import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option


class RestoreCommand(RunCommand):
    run_name = "restore"

    def __init__(self, inventory: str | None, archive: Path, force: bool) -> None:
        super().__init__(inventory)
        self.archive, self.force = archive, force

    def title(self) -> str:
        return f"restore {self.archive.name}"

    def execute(self) -> None:
        from provision.backup.restore import Restore

        Restore(self.inv, self.config, self.log).run(self.archive, self.force)

    def done(self) -> None:
        self.log.say(
            f"restore: done in {self.log.elapsed():.1f} s; the lab is the backup's",
            style="bold green",
        )


@click.command("restore")
@inventory_option
@wait_option
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="replace a lab that holds objects of its own (take a backup of it first)",
)
@reports_errors
def command(inventory: str | None, archive: Path, force: bool) -> None:
    """Put a backup back: etcd and PKI the kubeadm way, then MySQL and RabbitMQ.

    The archive must come from a lab made from the same cluster.yml (same nodes and
    addresses, same Kubernetes version); it is checked whole before anything
    changes. A killed restore resumes when run again with the same archive."""
    RestoreCommand(inventory, archive, force).main()
