import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option
from provision.errors import UsageError


class UpgradeCommand(RunCommand):
    run_name = "upgrade"

    def __init__(
        self, inventory: str | None, to: str, rehearse: bool = False, subnet: str | None = None
    ) -> None:
        super().__init__(inventory)
        if subnet and not rehearse:
            raise UsageError("--subnet names the rehearsal's network\n  fix: add --rehearse")
        self.to = to
        self.rehearse = rehearse
        self.subnet = subnet
        self.timings: list[tuple[str, float]] = []

    def title(self) -> str:
        return f"upgrade --to {self.to}" + (" --rehearse" if self.rehearse else "")

    def execute(self) -> None:
        if self.rehearse:
            from provision.rehearsal import Rehearsal

            Rehearsal(self.inv, self.config, self.log, self.to, self.subnet).run()
            return
        from provision.upgrade import Upgrade

        self.timings = Upgrade(self.inv, self.config, self.log, self.to).run()

    def done(self) -> None:
        if self.timings:
            steps = ", ".join(f"{name} {took:.0f} s" for name, took in self.timings)
            self.log.say(
                f"upgrade to {self.to.lstrip('v')}: done in {self.log.elapsed():.1f} s ({steps})",
                style="bold green",
            )


@click.command("upgrade")
@inventory_option
@wait_option
@click.option("--to", "to", required=True, metavar="VERSION", help="the release, e.g. 1.35.4")
@click.option(
    "--rehearse",
    is_flag=True,
    help="upgrade a throwaway copy of the lab made from a fresh backup of it, compare, "
    "destroy it, and say GO or NO-GO; the lab itself is not upgraded",
)
@click.option(
    "--subnet",
    metavar="CIDR",
    default=None,
    help="with --rehearse: the copy's node subnet (default: a free one of 192.168.192.0/18)",
)
@reports_errors
def command(inventory: str | None, to: str, rehearse: bool, subnet: str | None) -> None:
    """Upgrade Kubernetes one minor (or patch) at a time, the kubeadm way.

    Checks first (nothing changes on a refusal), takes a backup, upgrades the control
    plane, then each worker in turn (drained, upgraded, uncordoned, Ready), verifies,
    and pins the new release in cluster.yml. Run it again to finish one that stopped.
    With --rehearse, all of that happens on a copy of the lab first (see
    docs/operations.md)."""
    UpgradeCommand(inventory, to, rehearse, subnet).main()
