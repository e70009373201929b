"""`provision bundle build|fetch|check`: the bundle of Kubernetes binaries and images, and
Calico's manifest and images; built from source, or fetched from upstream releases."""

from __future__ import annotations

import click

from provision.cli.base import Command, RunCommand
from provision.cli.common import console, inventory_option, reports_errors


class BuildCommand(RunCommand):
    locks_lab = False  # changes no lab
    run_name = "bundle-build"

    def __init__(self, inventory: str | None, also: tuple[str, ...]) -> None:
        super().__init__(inventory)
        from provision.config.edit import at_kubernetes

        # each other release checked as the config would pin it, before anything is built
        for version in also:
            at_kubernetes(self.inv.cluster_file, version.lstrip("v"))
        self.also = also

    def banner(self) -> str:
        return (
            f"provision bundle build: Kubernetes {self.config.versions.kubernetes}"
            + "".join(f" and {v.lstrip('v')}" for v in self.also)
            + f" ({self.inv.cluster_file})"
        )

    def execute(self) -> None:
        from provision.addons.registry import image_recipes
        from provision.bundle.build import BundleBuild

        self.timings = BundleBuild(
            self.inv, self.config, self.log, self.also, image_recipes()
        ).run()

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

        from provision.bundle.manifest import bundle_releases, read_manifest, verify
        from provision.errors import BundleError
        from provision.sources import bundle_dir

        directory = bundle_dir(self.config)
        pinned = self.config.versions.kubernetes
        artifacts = read_manifest(directory, pinned)  # refuses one without the pinned release
        others = [v for v in bundle_releases(directory) if v != pinned]
        for version in others:
            artifacts += [a for a in read_manifest(directory, version) if a not in artifacts]
        title = f"bundle {directory}" + (
            f" (also Kubernetes {', '.join(others)})" if others else ""
        )
        table = Table(title=title, title_justify="left")
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
@click.option(
    "--also",
    "also",
    multiple=True,
    metavar="VERSION",
    help="another Kubernetes release the bundle holds too (for `provision upgrade`)",
)
@reports_errors
def build(inventory: str | None, also: tuple[str, ...]) -> None:
    """Build the bundle for the pinned Kubernetes release and Calico (from source)."""
    BuildCommand(inventory, also).main()


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
