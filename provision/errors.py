"""One root exception; every subclass carries the exit code the CLI returns.

Exit codes, one meaning each: 1 a failure of no class below (an OS error, an
internal error), 2 config or usage, 3 host, 4 machines, 5 playbook or remote,
6 bundle or Calico, 7 verify, 8 rebuild, 9 data guard, 130 interrupted.
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
