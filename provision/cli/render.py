from pathlib import Path

import click

from provision.cli.common import console, inventory_option, load_config, reports_errors


@click.command("render")
@inventory_option
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="directory to write into (created if missing)",
)
@click.option(
    "--provider",
    default=None,
    type=click.Choice(["virtualbox", "libvirt", "docker", "ssh"]),
    help="render for this provider instead of the one the config resolves to",
)
@reports_errors
def command(inventory: str | None, out: Path, provider: str | None) -> None:
    """Write the files derived from the config (inventory, kubeadm, add-ons)."""
    from provision.machines.provider import resolve_provider
    from provision.render import render_all

    inv, config = load_config(inventory)
    provider = provider or resolve_provider(config)
    for path in render_all(config, provider, out, source=str(inv.cluster_file)):
        console().print(f"wrote {path}")
