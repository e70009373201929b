"""`provision bundle build|fetch|check`: the bundle of Kubernetes binaries and images, and
Calico's manifest and images; built from source, or fetched from upstream releases."""

from __future__ import annotations

import click

from provision.cli.common import (
    console,
    interrupted,
    inventory_option,
    load_config,
    open_run,
    reports_errors,
)


@click.group("bundle")
def command() -> None:
    """Build, fetch or check the bundle of Kubernetes and Calico binaries and images."""


@command.command("build")
@inventory_option
@reports_errors
def build(inventory: str | None) -> None:
    """Build the bundle for the pinned Kubernetes release and Calico (from source)."""
    from provision.bundle.build import BundleBuild

    inv, config = load_config(inventory)
    log = open_run(inv, "bundle-build")
    log.say(
        f"provision bundle build: Kubernetes {config.versions.kubernetes} "
        f"({inv.cluster_file}); log {log.path}"
    )
    try:
        timings = BundleBuild(inv, config, log).run()
    except KeyboardInterrupt:
        interrupted(log)
    log.say(f"bundle built in {sum(t for _, t in timings):.1f} s", style="bold green")


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
    from provision.bundle.fetch import Fetch

    inv, config = load_config(inventory)
    log = open_run(inv, "bundle-fetch")
    log.say(
        f"provision bundle fetch: Kubernetes {config.versions.kubernetes}, Calico "
        f"{config.versions.calico} ({inv.cluster_file}); log {log.path}"
    )
    try:
        artifacts = Fetch(config, log, arch).run()
    except KeyboardInterrupt:
        interrupted(log)
    log.say(
        f"bundle fetched: {len(artifacts)} artifacts verified in {log.elapsed():.1f} s",
        style="bold green",
    )


@command.command("check")
@inventory_option
@reports_errors
def check(inventory: str | None) -> None:
    """Check every artifact of the bundle against the sha256 in its manifest."""
    from rich.table import Table

    from provision.bundle.manifest import BundleError, read_manifest, verify
    from provision.sources import bundle_dir

    _, config = load_config(inventory)
    directory = bundle_dir(config)
    artifacts = read_manifest(directory, config.versions.kubernetes)
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
    out = console()
    if not out.is_terminal:
        out.width = max(out.width, 110)  # a log or pipe gets whole image names
    out.print(table)
    if bad:
        verify(directory, artifacts)  # raises, naming each damaged artifact
    click.echo(f"bundle OK: {len(artifacts)} artifacts match the manifest")
