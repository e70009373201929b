"""Credentials of the add-ons: generated once per lab, kept 0600 in the lab's
state directory (<state>/secrets/addons.json, directory 0700), never in git and
never printed. A lab keeps its credentials across `up` runs; `destroy` removes
them with the rest of the state.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Callable
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.files import private_file, read_json, refuse

ALPHABET = string.ascii_letters + string.digits  # safe in YAML, SQL and shell quoting


def _password(length: int = 24) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def wanted(config: ClusterConfig) -> dict[str, Callable[[], str]]:
    enabled = config.addons.enabled()
    made: dict[str, Callable[[], str]] = {}
    if "mysql" in enabled:
        made["mysql-root-password"] = _password
        made["mysql-password"] = _password
    if "rabbitmq" in enabled:
        made["rabbitmq-user"] = lambda: "provision"
        made["rabbitmq-password"] = _password
        made["rabbitmq-erlang-cookie"] = lambda: _password(32)
    return made


def secrets_file(state_dir: Path) -> Path:
    return state_dir / "secrets" / "addons.json"


def ensure_secrets(config: ClusterConfig, state_dir: Path) -> dict[str, str]:
    """The lab's credentials: the stored ones, plus any an enabled add-on still lacks."""
    path = secrets_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fix = (
        "put back the file provision wrote (a JSON object of names to strings), or remove "
        f"it (`rm {path}`) for new credentials (add-ons made with the old ones keep those)"
    )
    recorded = read_json(path, "the add-ons' credentials", fix=fix)
    if recorded is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in recorded.items()
    ):
        raise refuse(path, "the add-ons' credentials", "not a mapping of names to strings", fix)
    stored: dict[str, str] = recorded or {}
    missing = {k: make() for k, make in wanted(config).items() if k not in stored}
    if missing or recorded is None:
        stored.update(missing)
        write_private(path, json.dumps(stored, indent=2))
    os.chmod(path, 0o600)
    return stored


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner can read (0600 from creation), atomically."""
    with private_file(path) as f:
        f.write(text.encode())
    return path
