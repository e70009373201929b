"""Each provider is one module behind one interface (machines/base.py Machines):
every registered provider implements all of it, and no code outside the providers'
own modules (and the chooser, machines/provider.py) asks which provider it is."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from provision.machines.base import Machines
from provision.machines.providers import PROVIDERS, provider_class

PACKAGE = Path(__file__).resolve().parents[2] / "provision"
# the chooser, and the config (its model says what kind means; its checks ask for
# the fields each kind needs)
ALLOWED = {
    PACKAGE / "machines" / "provider.py",
    PACKAGE / "config" / "model.py",
    PACKAGE / "config" / "checks.py",
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_provider_implements_the_whole_interface(name):
    cls = provider_class(name)
    assert issubclass(cls, Machines)
    assert not inspect.isabstract(cls), sorted(cls.__abstractmethods__)
    assert cls.provider == name


def test_only_existing_hosts_are_existing_and_only_docker_nodes_are_containers():
    assert [n for n in PROVIDERS if provider_class(n).existing] == ["ssh"]
    assert [n for n in PROVIDERS if provider_class(n).containers] == ["docker"]


def _provider_branches(path: Path) -> list[str]:
    """Comparisons of something named *provider* or `.kind` with a provider's name."""
    names = set(PROVIDERS) | {"vagrant"}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        literals = {
            s.value
            for side in sides
            for s in ast.walk(side)
            if isinstance(s, ast.Constant) and isinstance(s.value, str)
        }
        about = " ".join(ast.unparse(side) for side in sides)
        if literals & names and ("provider" in about or ".kind" in about):
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_provider_branch_outside_the_providers_modules():
    providers = PACKAGE / "machines" / "providers"
    branches = [
        b
        for path in sorted(PACKAGE.rglob("*.py"))
        if providers not in path.parents and path not in ALLOWED
        for b in _provider_branches(path)
    ]
    assert branches == []


def test_the_check_finds_a_branch(tmp_path):
    """The scan above is not blind: it finds the kind of branch it forbids."""
    path = PACKAGE / "machines" / "provider.py"
    assert _provider_branches(path)
    assert any("kind ==" in b for b in _provider_branches(path))
