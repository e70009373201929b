"""The Docker engine the docker provider uses."""

from __future__ import annotations

import json
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


def labels(kind: str, name: str) -> dict[str, str] | None:
    """The labels of a container or volume by name, or None when there is none (a
    container keeps them under .Config, a volume at the top)."""
    where = "{{json .Config.Labels}}" if kind == "container" else "{{json .Labels}}"
    out = docker(kind, "inspect", "--format", where, name, check=False)
    if out.returncode != 0:
        return None
    try:
        found = json.loads(out.stdout or "null")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def engine_running() -> bool:
    try:
        return (
            docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20).returncode
            == 0
        )
    except (HostError, subprocess.TimeoutExpired):
        return False
