"""The contract between provision and its playbooks is declared in the roles: every
extra var provision passes is an input a role declares (meta/argument_specs.yml,
which Ansible checks when the role starts) or a role's default, and every role
declares exactly the inputs it uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "playbooks" / "roles"
PACKAGE = ROOT / "provision"


def _specs() -> dict[str, dict]:
    """{role: {option: spec}} of every role's main entry point."""
    found = {}
    for path in ROLES.glob("*/meta/argument_specs.yml"):
        spec = yaml.safe_load(path.read_text())["argument_specs"]["main"]["options"]
        found[path.parent.parent.name] = spec
    return found


class _Loader(yaml.SafeLoader):
    """Ansible's `!unsafe` strings as plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _defaults() -> set[str]:
    names = set()
    for path in ROLES.glob("*/defaults/main.yml"):
        names |= set(yaml.load(path.read_text(), Loader=_Loader) or {})
    return names


def _runs_a_playbook(func: ast.Attribute) -> bool:
    """up's and the node operations' `playbook(...)`, or `Playbooks(...).run(...)`
    and `self.playbooks.run(...)`."""
    if func.attr in ("playbook", "_playbook"):
        return True
    receiver = func.value
    return func.attr == "run" and (
        (isinstance(receiver, ast.Attribute) and receiver.attr == "playbooks")
        or (
            isinstance(receiver, ast.Call)
            and isinstance(receiver.func, ast.Name)
            and receiver.func.id == "Playbooks"
        )
    )


def _passed() -> set[str]:
    """The extra vars provision builds: the keys of playbooks/variables.py's dicts,
    and of the dicts given to a playbook run anywhere in the package."""
    names: set[str] = set()
    variables = ast.parse((PACKAGE / "playbooks" / "variables.py").read_text())
    for node in ast.walk(variables):
        if isinstance(node, ast.Dict):
            names |= {k.value for k in node.keys if isinstance(k, ast.Constant)}
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.value, ast.Name)
            and node.value.id == "extra"
        ):
            names.add(node.slice.value)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if not _runs_a_playbook(node.func):
                continue
            args = [*node.args, *(k.value for k in node.keywords)]
            for arg in args:
                if isinstance(arg, ast.Dict):
                    for k in arg.keys:
                        if isinstance(k, ast.Constant) and isinstance(k.value, str):
                            names.add(k.value)
    return names


def test_the_scan_finds_what_provision_passes():
    passed = _passed()
    # one from each source: the shared vars, a phase's own, the add-ons', an operation's
    assert {"kubernetes_version", "kubeadm_config_file", "addons_nfs", "node_target"} <= passed


def test_every_extra_var_provision_passes_is_declared_by_a_role():
    declared = {o for spec in _specs().values() for o in spec} | _defaults()
    undeclared = sorted(_passed() - declared)
    assert not undeclared, f"passed to the playbooks but declared by no role: {undeclared}"


def _names(var: str) -> re.Pattern:
    """`var` as a variable: not part of a longer name, a path or `cri-dockerd`."""
    return re.compile(rf"(?<![\w./-]){var}(?![\w-])")


def test_each_role_declares_exactly_the_extra_vars_it_uses():
    specs = _specs()
    inputs = {o for spec in specs.values() for o in spec}
    wrong = []
    for role in sorted(p for p in ROLES.iterdir() if p.is_dir()):
        texts = [
            p.read_text(encoding="utf-8")
            for p in role.rglob("*")
            if p.is_file() and not p.is_symlink() and "meta" not in p.relative_to(role).parts
        ]
        used = {v for v in inputs if any(_names(v).search(t) for t in texts)}
        declared = set(specs.get(role.name, {}))
        if used != declared:
            wrong.append(f"{role.name}: uses {sorted(used)}, declares {sorted(declared)}")
    assert not wrong, wrong


def test_every_declared_input_has_a_type_and_a_description():
    for role, spec in _specs().items():
        for name, option in spec.items():
            assert option.get("type") and option.get("description"), f"{role}: {name}"
