"""The Docker engine the docker provider uses."""

from __future__ import annotations

import os
import shutil
import subprocess

from provision.errors import HostError

# Debian's client matches Debian's engine; another client earlier on PATH may
# speak an API version the engine does not know.
PREFERRED = "/usr/bin/docker"


def docker_binary() -> str:
    if os.path.exists(PREFERRED):
        return PREFERRED
    found = shutil.which("docker")
    if found is None:
        raise HostError("docker is not installed\n  fix: run scripts/host-setup")
    return found


def docker(*args: str, check: bool = True, stdin=None, timeout: float | None = 600):
    out = subprocess.run(
        [docker_binary(), *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=stdin,
        timeout=timeout,
    )
    if check and out.returncode != 0:
        raise HostError(f"docker {' '.join(args[:3])} failed: {out.stderr.strip()[-600:]}")
    return out


def engine_running() -> bool:
    try:
        return (
            docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20).returncode
            == 0
        )
    except (HostError, subprocess.TimeoutExpired):
        return False
