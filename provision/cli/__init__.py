"""The command line: thin click commands over the core library.

Commands are imported only when run, so `provision --help` stays fast; their
one-line help lives here for the same reason.
"""

from __future__ import annotations

import importlib
import sys

import click

from provision import __version__

COMMANDS: dict[str, str] = {
    "validate": "Check the cluster config and print the nodes.",
    "plan": "Show machines, phases in order, versions and what each phase changes.",
    "render": "Write the files derived from the config (inventory, kubeadm, add-ons).",
    "schema": "Print the JSON Schema of cluster.yml (for editors).",
    "doctor": "Check this host for the chosen provider; print a fix for each problem.",
    "up": "Bring the lab up, phase by phase (see `provision plan`).",
    "verify": "Prove each part of the lab does its real job (add-ons, storage, nodes).",
    "rebuild": "Destroy, up and verify the lab; write a report (for nightly jobs).",
    "schedule": "Rebuild the lab every day with a systemd timer (--at HH:MM; --remove).",
    "diagnose": "Collect a failed lab's journals, cluster state and failed tasks, redacted.",
    "node": "Reset, replace, add or remove a worker of the running cluster.",
    "backup": "Back up the lab: etcd, PKI, credentials, MySQL and RabbitMQ (--list).",
    "restore": "Put a backup back onto the lab made from the same config (etcd, PKI, data).",
    "status": "Show machines, Kubernetes nodes and add-ons (--json for scripts).",
    "certs": "Show when the cluster's certificates expire (check); renew them (renew).",
    "upgrade": "Move the lab to the next Kubernetes release (--to), node by node.",
    "halt": "Stop the lab's machines, keeping everything; `provision up` resumes it.",
    "destroy": "Remove the machines, their network and volumes, and the generated inventory.",
    "kubectl": "Run kubectl against the lab with its admin kubeconfig.",
    "bundle": "Build, fetch or check the bundle of Kubernetes binaries and images.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"provision.cli.{name.replace('-', '_')}")
        return module.command

    def invoke(self, ctx: click.Context):
        """Every command, even one without @reports_errors, ends in a message and an
        exit code, never a traceback; SIGTERM ends it as Ctrl-C does, children too."""
        from provision.cli.common import error_exit
        from provision.cli.interrupts import interrupts

        with error_exit(), interrupts():
            return super().invoke(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provision")
def cli() -> None:
    """One command to a working, verified Kubernetes lab."""


def main() -> None:
    # A terminal or pipe that cannot show a character gets its escape, not a crash.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    cli(prog_name="provision")
