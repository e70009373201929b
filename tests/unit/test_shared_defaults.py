"""Values the roles and the Python code share are written once, in
provision/shared_defaults.yml: the defaults of the role provision_defaults (a link
to it), read by provision.shared; no role, playbook or module writes them again,
and every role that uses one depends on that role."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from provision import shared

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "provision" / "shared_defaults.yml"
ROLES = ROOT / "playbooks" / "roles"


def test_the_defaults_role_is_the_shared_file():
    link = ROLES / "provision_defaults" / "defaults" / "main.yml"
    assert link.is_symlink() and link.resolve() == SHARED.resolve()
    assert yaml.safe_load(SHARED.read_text()) == shared.DEFAULTS


def _texts(*roots: Path, suffixes=(".yml", ".yaml", ".j2", ".py", ".sh")):
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.suffix in suffixes:
                yield path, path.read_text(encoding="utf-8")


def test_no_one_writes_a_shared_value_again():
    values = [
        v
        for v in shared.DEFAULTS.values()
        if isinstance(v, str) and ("/" in v or v.startswith("."))
    ]
    assert values, "the shared paths"
    found = [
        f"{path.relative_to(ROOT)}: {value}"
        for path, text in _texts(ROOT / "playbooks", ROOT / "provision")
        if path != SHARED
        for value in values
        if value in text
    ]
    assert not found, found


def _dependencies(role: Path) -> list[str]:
    meta = role / "meta" / "main.yml"
    if not meta.exists():
        return []
    deps = (yaml.safe_load(meta.read_text()) or {}).get("dependencies") or []
    return [d["role"] if isinstance(d, dict) else d for d in deps]


def test_every_role_that_uses_a_shared_value_depends_on_the_defaults_role():
    names = "|".join(re.escape(k) for k in shared.DEFAULTS)
    uses = re.compile(rf"\b({names})\b")
    missing = []
    for role in sorted(p for p in ROLES.iterdir() if p.name != "provision_defaults"):
        used = {m for _, text in _texts(role) for m in uses.findall(text)}
        if used and "provision_defaults" not in _dependencies(role):
            missing.append(f"{role.name} uses {', '.join(sorted(used))}")
    assert not missing, missing
