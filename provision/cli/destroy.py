import click

from provision.cli.common import (
    interrupted,
    inventory_option,
    load_config,
    open_run,
    reports_errors,
)


@click.command("destroy")
@inventory_option
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@reports_errors
def command(inventory: str | None, yes: bool) -> None:
    """Remove the machines, their network and volumes, and the generated inventory."""
    from provision.destroy import destroy_lab

    inv, config = load_config(inventory)
    if not yes:
        click.confirm(
            f"Destroy every machine of cluster {config.cluster.name} "
            f"({', '.join(n.name for n in config.nodes)})?",
            abort=True,
        )
    log = open_run(inv, "destroy")
    try:
        destroy_lab(inv, config, log)
    except KeyboardInterrupt:
        interrupted(log)
    log.say(
        f"destroyed cluster {config.cluster.name}; run logs kept in {inv.state_dir / 'runs'}",
        style="bold green",
    )
