import click

from provision.cli.base import Command
from provision.cli.common import console, inventory_option, reports_errors


class PlanCommand(Command):
    def execute(self) -> None:
        from rich.table import Table

        from provision.errors import ConfigError
        from provision.machines.provider import choose_provider
        from provision.machines.providers import provider_class
        from provision.phases import PHASES
        from provision.sources import runtime_packages

        inv, config = self.inv, self.config
        choice = choose_provider(config)
        provider = choice.provider
        problems = provider_class(provider).host_problems(config)
        if problems:
            raise ConfigError(str(inv.cluster_file), problems)
        out = console()
        out.print(f"plan for {config.cluster.name}", style="bold", end="")
        out.print(f" ({inv.cluster_file}), provider: {provider}")
        out.print(f"provider {provider}: {choice.reason}")

        machines = Table(title="machines")
        for col in ("node", "role", "cpus", "memory", "node ip"):
            machines.add_column(col)
        for n in config.nodes:
            machines.add_row(n.name, n.role, str(n.cpus), f"{n.memory_mb} MiB", str(n.ip))
        out.print(machines)

        phases = Table(title="phases, in order")
        for col in ("#", "phase", "does", "changes"):
            phases.add_column(col)
        for i, phase in enumerate(PHASES, 1):
            phases.add_row(str(i), phase.name, phase.summary, phase.changes(config, provider))
        out.print(phases)

        # Docker and containerd: what gets installed, which is the pin only for Docker's
        # repository (runtime.docker_source).
        installed = runtime_packages(config)
        versions = Table(title="versions")
        versions.add_column("component")
        versions.add_column("version")
        for name, value in config.versions.model_dump().items():
            versions.add_row(name, installed.get(name, value))
        out.print(versions)


@click.command("plan")
@inventory_option
@reports_errors
def command(inventory: str | None) -> None:
    """Show machines, phases in order, versions and what each phase changes."""
    PlanCommand(inventory).main()
