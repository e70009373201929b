"""`provision bundle build|fetch|check`: the bundle of Kubernetes binaries and images, and
Calico's manifest and images; built from source, or fetched from upstream releases."""

from __future__ import annotations

import click

from provision.cli.base import Command, RunCommand
from provision.cli.common import console, inventory_option, reports_errors


class BuildCommand(RunCommand):
    locks_lab = False  # changes no lab
    run_name = "bundle-build"

    def banner(self) -> str:
        return (
            f"provision bundle build: Kubernetes {self.config.versions.kubernetes} "
            f"({self.inv.cluster_file})"
        )

    def execute(self) -> None:
        from provision.bundle.build import BundleBuild

        self.timings = BundleBuild(self.inv, self.config, self.log).run()

    def done(self) -> None:
        self.log.say(f"bundle built in {sum(t for _, t in self.timings):.1f} s", style="bold green")


class FetchCommand(RunCommand):
    locks_lab = False  # changes no lab
    run_name = "bundle-fetch"

    def __init__(self, inventory: str | None, arch: str | None) -> None:
        super().__init__(inventory)
        self.arch = arch

    def banner(self) -> str:
        return (
            f"provision bundle fetch: Kubernetes {self.config.versions.kubernetes}, Calico "
            f"{self.config.versions.calico} ({self.inv.cluster_file})"
        )

    def execute(self) -> None:
        from provision.bundle.fetch import Fetch

        self.artifacts = Fetch(self.config, self.log, self.arch).run()

    def done(self) -> None:
        self.log.say(
            f"bundle fetched: {len(self.artifacts)} artifacts verified in "
            f"{self.log.elapsed():.1f} s",
            style="bold green",
        )


class CheckCommand(Command):
    def execute(self) -> None:
        from rich.table import Table

        from provision.bundle.manifest import read_manifest, verify
        from provision.errors import BundleError
        from provision.sources import bundle_dir

        directory = bundle_dir(self.config)
        artifacts = read_manifest(directory, self.config.versions.kubernetes)
        table = Table(title=f"bundle {directory}", title_justify="left")
        for column in ("artifact", "kind", "version", "size", "sha256"):
            table.add_column(column, no_wrap=True)
        bad = 0
        for a in artifacts:
            file = directory / a.path
            try:
                verify(directory, [a])
                status = "ok"
            except BundleError:
                status = "missing" if not file.is_file() else "DIFFERS"
                bad += 1
            size = f"{file.stat().st_size / 2**20:.1f} MiB" if file.is_file() else "-"
            table.add_row(a.name, a.kind, a.version, size, status)
        console().print(table)
        if bad:
            verify(directory, artifacts)  # raises, naming each damaged artifact
        click.echo(f"bundle OK: {len(artifacts)} artifacts match the manifest")


@click.group("bundle")
def command() -> None:
    """Build, fetch or check the bundle of Kubernetes and Calico binaries and images."""


@command.command("build")
@inventory_option
@reports_errors
def build(inventory: str | None) -> None:
    """Build the bundle for the pinned Kubernetes release and Calico (from source)."""
    BuildCommand(inventory).main()


@command.command("fetch")
@inventory_option
@click.option(
    "--arch",
    type=click.Choice(["amd64", "arm64"]),
    default=None,
    help="the nodes' CPU architecture (default: this host's)",
)
@reports_errors
def fetch(inventory: str | None, arch: str | None) -> None:
    """Download the pinned Kubernetes binaries and Calico manifest from upstream, each
    checked against its pinned sha256, into the bundle directory (no images)."""
    FetchCommand(inventory, arch).main()


@command.command("check")
@inventory_option
@reports_errors
def check(inventory: str | None) -> None:
    """Check every artifact of the bundle against the sha256 in its manifest."""
    CheckCommand(inventory).main()
