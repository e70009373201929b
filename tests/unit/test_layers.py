"""Dependencies inside provision/ point one way, as the flow does:
config -> machines -> inventory -> playbooks -> add-ons -> verify -> report,
with the operations that drive them above and the CLI on top.

Every import counts, at any depth (a function-local import is still a
dependency), relative ones too. `from a import b` is an import of a.b when a.b
is a module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "provision"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"

# Lower layers never import higher ones; one layer's modules may import each other
# (without a cycle).
LAYERS: dict[int, tuple[str, ...]] = {
    0: (
        "provision",
        "errors",
        "project",
        "runlog",
        "templates",
        "apt_mirror",
        "files",
        "lock",
        "record",
        "node_scripts",
        "shared",
    ),
    1: ("config",),
    2: ("sources", "bundle"),
    3: ("machines",),
    4: ("inventory", "remote"),
    5: ("playbooks", "phase_state"),
    6: ("addons",),
    7: ("verify",),
    8: ("report",),
    9: (
        "phases",
        "up",
        "node_ops",
        "destroy",
        "rebuild",
        "rehearsal",
        "status",
        "doctor",
        "render",
        "backup",
        "schedule",
        "halt",
        "certs",
        "upgrade",
    ),
    10: ("cli", "__main__"),
}


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    found = {}
    for path in root.rglob("*.py"):
        parts = ("provision", *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def source_of(node: ast.ImportFrom, importer: str, path: Path) -> str:
    """The absolute name of the module a `from X import ...` reads (`from .x`,
    `from ..` resolved against the importer's package)."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = source_of(node, name, path)
                targets = [
                    f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source
                    for a in node.names
                ]
            else:
                continue
            graph[name] |= {t for t in targets if t in mods and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as a path a -> ... -> a, or [] (depth-first, colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in colour and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return []

    for node in sorted(graph):
        if node not in colour and (found := visit(node)):
            return found
    return []


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    for rank, names in LAYERS.items():
        if top in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def test_no_import_cycle_in_provision():
    cycle = find_cycle(import_graph(modules()))
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_imports_point_down_the_layers():
    against = [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in import_graph(modules()).items()
        for b in targets
        if layer_of(b) > layer_of(a)
    ]
    assert not against, "imports against the flow:\n" + "\n".join(sorted(against))


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


def readme_layers() -> list[list[str]]:
    """The paths each row of docs/architecture.md's layers table names in its code column, in row
    order: `provision/errors.py`, `project.py` (in provision/), `Vagrantfile`."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## The flow", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| [^|]+ \| ([^|]+) \| [^|]+ \|$", section, re.M)[2:]  # header, rule
    return [re.findall(r"`([^`]+)`", code) for code in rows]


def test_readme_layers_table_is_the_table():
    """Row by row, docs/architecture.md names the modules of one layer each, in LAYERS' order,
    every module of provision/ once, and nothing that is not there."""
    layered = {t for names in LAYERS.values() for t in names} - {"provision", "__main__"}
    paths = readme_layers()
    # provision/errors.py, project.py, backup/, machines/spec.py: errors, project, backup, machines
    rows = [
        {p.removeprefix("provision/").split("/")[0].removesuffix(".py") for p in row} & layered
        for row in paths
    ]
    assert sorted(t for row in rows for t in row) == sorted(layered), (
        "docs/architecture.md's layers table and LAYERS name different modules"
    )
    assert [{layer_of(t) for t in row} for row in rows] == [{r} for r in LAYERS], (
        "docs/architecture.md's layers table is not LAYERS row by row"
    )
    missing = [
        p
        for row in paths
        for p in row
        if not (PACKAGE.parent / p).exists()
        and not (PACKAGE / p.removeprefix("provision/")).exists()
    ]
    assert not missing, (
        f"docs/architecture.md's layers table names what is not in the repository: {missing}"
    )


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"b2", "c"}, "c": set(), "b2": {"b"}}, ["b", "b2", "b"]),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(graph, cycle):
    assert find_cycle(graph) == cycle


def test_from_import_of_a_submodule_is_an_edge_to_it(tmp_path):
    pkg = tmp_path / "provision"
    (pkg / "config").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "config" / "__init__.py").write_text("from provision.config.load import load\n")
    (pkg / "config" / "load.py").write_text(
        "def load():\n    from provision.config import kinds, CONSTANT\n"
    )
    (pkg / "config" / "kinds.py").write_text("")
    graph = import_graph(modules(pkg))
    # kinds is a module: an edge to it; CONSTANT is not: an edge to the package,
    # which imports load: a cycle.
    assert graph["provision.config.load"] == {"provision.config.kinds", "provision.config"}
    assert find_cycle(graph) == ["provision.config", "provision.config.load", "provision.config"]


def test_relative_imports_are_edges(tmp_path):
    pkg = tmp_path / "provision"
    (pkg / "machines").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "render.py").write_text("")
    (pkg / "machines" / "__init__.py").write_text("from .spec import machines_spec\n")
    (pkg / "machines" / "spec.py").write_text(
        "def machines_spec():\n    from .. import render\n    from . import base\n"
    )
    (pkg / "machines" / "base.py").write_text("from ..machines import spec\n")
    graph = import_graph(modules(pkg))
    assert graph["provision.machines"] == {"provision.machines.spec"}
    assert graph["provision.machines.spec"] == {"provision.render", "provision.machines.base"}
    assert find_cycle(graph) == [
        "provision.machines.spec",
        "provision.machines.base",
        "provision.machines.spec",
    ]
