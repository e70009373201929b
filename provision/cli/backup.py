"""`provision backup`: one archive of the running lab (etcd, PKI, credentials, add-on
data); `--list` shows the archives kept."""

from __future__ import annotations

from pathlib import Path

import click

from provision.cli.base import Command, RunCommand
from provision.cli.common import console, inventory_option, reports_errors, wait_option


class BackupCommand(RunCommand):
    run_name = "backup"

    def __init__(self, inventory: str | None, out: Path | None, keep: int) -> None:
        super().__init__(inventory)
        self.out, self.keep = out, keep

    def execute(self) -> None:
        from provision.backup.take import Backup

        self.path = Backup(self.inv, self.config, self.log).run(self.out, self.keep)

    def done(self) -> None:
        self.log.say(f"backup written: {self.path}", style="bold green")


class ListCommand(Command):
    """Read-only: the archives in <state>/backups, newest first, each read and checked."""

    def execute(self) -> None:
        from provision.backup.archive import iter_listing
        from provision.backup.take import backups_dir

        out = console()
        directory = backups_dir(self.inv)
        found = list(iter_listing(directory, self.config.cluster.name))
        if not found:
            out.print(f"no backups of cluster {self.config.cluster.name} in {directory}")
            return
        for path, manifest, problem in found:
            size = path.stat().st_size
            if manifest is None:
                out.print(f"{path.name}  {size} bytes  UNREADABLE: {problem}")
                continue
            out.print(
                f"{path.name}  {size} bytes  taken {manifest.created}  "
                f"Kubernetes {manifest.identity.kubernetes}  parts: {', '.join(manifest.parts)}"
            )


@click.command("backup")
@inventory_option
@wait_option
@click.option("--list", "listing", is_flag=True, help="list the kept backups and stop")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the archive to this new file (default: <state>/backups/, the newest kept)",
)
@click.option(
    "--keep",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="how many backups <state>/backups keeps",
)
@reports_errors
def command(inventory: str | None, listing: bool, out: Path | None, keep: int) -> None:
    """Back up the lab: etcd, PKI and kubeconfigs, credentials, MySQL and RabbitMQ."""
    if listing:
        ListCommand(inventory).main()
    else:
        BackupCommand(inventory, out, keep).main()
