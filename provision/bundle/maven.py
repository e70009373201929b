"""The host's own Maven, for the add-on images' artifacts on Maven Central: its
settings name any mirror, and --strict-checksums makes it check the repository's
checksums. One runner for every fetch, with one kind of error."""

from __future__ import annotations

import shutil
from pathlib import Path

from provision.bundle.background import run_stoppable
from provision.errors import BundleError


def run_maven(args: list[str], cwd: Path, log: Path, what: str) -> None:
    """mvn -B -q --strict-checksums <args> in cwd, its output appended to log;
    BundleError naming `what` (and the fix) when Maven is missing or fails."""
    if shutil.which("mvn") is None:
        raise BundleError(
            f"Maven (mvn) is needed to fetch {what} from Maven Central\n"
            "  fix: apt-get install maven"
        )
    out = run_stoppable(
        ["mvn", "-B", "-q", "--strict-checksums", *args], cwd=cwd, capture_output=True, text=True
    )
    with log.open("a") as f:
        f.write(f"$ mvn {' '.join(args)}\n{out.stdout}{out.stderr}\n")
    if out.returncode != 0:
        tail = "\n    ".join((out.stdout + out.stderr).splitlines()[-8:])
        raise BundleError(
            f"fetching {what} failed (exit {out.returncode}):\n    {tail}\n  full log: {log}\n"
            "  fix: check that Maven reaches its repository (mvn -v, ~/.m2/settings.xml) "
            "and that the version exists on Maven Central"
        )
