import os
from pathlib import Path

import click

from provision.cli.base import Command
from provision.cli.common import console, inventory_option, reports_errors
from provision.errors import UsageError


class RenderCommand(Command):
    def __init__(self, inventory: str | None, out: Path, provider: str | None) -> None:
        super().__init__(inventory)
        self.out = out
        self.provider = provider

    def execute(self) -> None:
        from provision.inventory import read_endpoints
        from provision.machines.provider import resolve_provider
        from provision.render import render_all

        target = _writable_target(self.out)
        provider = self.provider or resolve_provider(self.config)
        # hosts.yml as `up` writes it: the SSH endpoints of the machines made (Vagrant's
        # user and forwarded ports); before any machine exists, the config's addresses
        endpoints = read_endpoints(self.inv.hosts_file)
        try:
            written = render_all(
                self.config, provider, target, str(self.inv.cluster_file), endpoints
            )
        except OSError as e:
            raise UsageError(
                f"cannot write into --out {self.out}: {e.strerror or e}"
                + (f" ({e.filename})" if e.filename else "")
                + "\n  fix: pick a directory you can write to (not under a file, not on a "
                "read-only file system)"
            ) from None
        for path in written:
            console().print(f"wrote {path}")
        if endpoints is None and self.config.machines.made_here:
            console().print(
                "hosts.yml: no machines made yet: the SSH endpoints are the config's node "
                "addresses; `provision up` writes Vagrant's (its user and ports)"
            )


class _NamedDir(click.Path):
    """A directory path that is not empty: Path("") would be the working directory."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: name the directory to write into", param, ctx)
        return super().convert(value, param, ctx)


@click.command("render")
@inventory_option
@click.option(
    "--out",
    "out",
    required=True,
    type=_NamedDir(file_okay=False, path_type=Path),
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
    RenderCommand(inventory, out, provider).main()


# Kernel and device file systems: files there are interfaces, not files.
PSEUDO_TREES = ("/proc", "/sys", "/dev")


def _writable_target(out: Path) -> Path:
    if "\x00" in str(out):
        raise UsageError("--out holds a NUL byte\n  fix: pick a directory such as ./rendered")
    try:
        full = Path(os.path.abspath(out)).resolve()
    except (OSError, RuntimeError, ValueError) as e:  # loops, NUL bytes
        raise UsageError(f"cannot use --out {out}: {e}\n  fix: pick another directory") from None
    for tree in PSEUDO_TREES:
        if full == Path(tree) or Path(tree) in full.parents:
            raise UsageError(
                f"--out {out} is in {tree}, a kernel file system\n"
                "  fix: pick a directory such as ./rendered"
            )
    return out
