import os
import shutil

import click

from provision.cli.base import Command
from provision.cli.common import inventory_option, reports_errors
from provision.errors import UsageError


class KubectlCommand(Command):
    def __init__(self, inventory: str | None, args: tuple[str, ...]) -> None:
        super().__init__(inventory)
        self.args = args

    def execute(self) -> None:
        from provision.sources import bundle_dir

        kubeconfig = self.inv.state_dir / "kubeconfig"
        if not kubeconfig.exists():
            raise UsageError(
                f"no kubeconfig at {kubeconfig}\n"
                "  fix: run `provision up` (the control-plane phase fetches it)"
            )
        bundled = bundle_dir(self.config) / "bin" / "kubectl"
        kubectl = str(bundled) if bundled.is_file() else shutil.which("kubectl")
        if kubectl is None:
            raise UsageError(
                "no kubectl found (neither in the bundle nor on PATH)\n"
                "  fix: install kubectl, or build the bundle"
            )
        os.execvpe(kubectl, [kubectl, *self.args], {**os.environ, "KUBECONFIG": str(kubeconfig)})


@click.command("kubectl", context_settings={"ignore_unknown_options": True})
@inventory_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@reports_errors
def command(inventory: str | None, args: tuple[str, ...]) -> None:
    """Run kubectl against the lab with its admin kubeconfig (provision kubectl -- get nodes)."""
    KubectlCommand(inventory, args).main()
