import click

from provision.cli.base import RunCommand
from provision.cli.common import inventory_option, reports_errors, wait_option


class UpgradeCommand(RunCommand):
    run_name = "upgrade"

    def __init__(self, inventory: str | None, to: str) -> None:
        super().__init__(inventory)
        self.to = to

    def title(self) -> str:
        return f"upgrade --to {self.to}"

    def execute(self) -> None:
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
@reports_errors
def command(inventory: str | None, to: str) -> None:
    """Upgrade Kubernetes one minor (or patch) at a time, the kubeadm way.

    Checks first (nothing changes on a refusal), takes a backup, upgrades the control
    plane, then each worker in turn (drained, upgraded, uncordoned, Ready), verifies,
    and pins the new release in cluster.yml. Run it again to finish one that stopped."""
    UpgradeCommand(inventory, to).main()
