"""One root exception; every subclass carries the exit code the CLI returns.

The one table of exit codes: each code is set here, on one class (two for 2),
and every error elsewhere subclasses the class of its meaning. docs/operations.md's "Exit
codes" section is this table; tests/unit/test_exit_codes.py checks both.
"""

from __future__ import annotations

from dataclasses import dataclass


class ProvisionError(Exception):
    """Root of every error the tool reports to a user (never a traceback)."""

    exit_code = 1

    def render(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where, what, and how to fix it."""

    path: str  # field path, e.g. "nodes[1].ip"
    message: str
    fix: str
    line: int | None = None


class ConfigError(ProvisionError):
    """The cluster config cannot be used. Lists every problem found."""

    exit_code = 2

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        lines = [f"{self.file}: {count} problem{'s' if count != 1 else ''} in the cluster config"]
        for p in self.problems:
            where = f"{self.file}:{p.line}" if p.line else self.file
            field = p.path or "(top level)"
            lines.append(f"  {where}: {field}: {p.message}")
            lines.append(f"      fix: {p.fix}")
        return "\n".join(lines)


class OSFailure(ProvisionError):
    """An operating system call failed (permissions, disk full, read-only file system)."""

    exit_code = 1


class UsageError(ProvisionError):
    """A command was asked for something it cannot do with these arguments."""

    exit_code = 2


class HostError(ProvisionError):
    """The operator's machine lacks something the chosen provider needs."""

    exit_code = 3


class MachinesError(ProvisionError):
    """Machines could not be made, started or reached (Vagrant, an existing host)."""

    exit_code = 4


class NodeStepFailed(ProvisionError):
    """A step on the nodes failed: a playbook, or a command run on a node."""

    exit_code = 5


class BundleError(ProvisionError):
    """The offline bundle is missing, incomplete or corrupt, or cannot be built."""

    exit_code = 6


class VerifyFailed(ProvisionError):
    """A verify check failed on the running lab."""

    exit_code = 7


class RebuildFailed(ProvisionError):
    """`provision rebuild` did not pass; its report names the phase or check."""

    exit_code = 8


class DataGuard(ProvisionError):
    """Refused: the operation would lose the only copy of data (--force drops it)."""

    exit_code = 9


class LabBusy(ProvisionError):
    """Refused: another provision command holds this lab's lock (see provision/lock.py)."""

    exit_code = 10


# Not an exception: Ctrl-C or SIGTERM, the shell's 128 + SIGINT.
INTERRUPTED = 130

# code -> meaning: docs/operations.md's "Exit codes" table says exactly this (tested).
EXIT_CODES: dict[int, str] = {
    0: "done",
    1: "an OS or internal error of no class below (`PROVISION_DEBUG=1` shows the traceback)",
    2: "the config or the command line (file, line, field and fix)",
    3: "this host lacks something (`provision doctor` prints the fix)",
    4: "machines: Vagrant or an existing host failed or cannot be reached",
    5: "a step on the nodes failed: a playbook or a command run on a node",
    6: "the offline bundle: missing, incomplete, corrupt, or a build that failed",
    7: "a verify check failed",
    8: "`rebuild` or an upgrade rehearsal did not pass (its report says where)",
    9: "refused: the operation would lose the only copy of data (`--force` to drop it)",
    10: "busy: another provision command is changing this lab (`--wait` waits for it)",
    INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); run the same command again to continue",
}
