"""Add or remove a node in cluster.yml as text, so the file keeps its comments and
layout; the result is checked like any config before it replaces the file."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from provision.config.load import load_text
from provision.config.model import ClusterConfig
from provision.errors import ConfigError, Problem, UsageError
from provision.files import private_file

TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*:")
# a list item, indented or not (`  - name:` and `- name:` are the same YAML)
ITEM = re.compile(r"^(\s*)- ")


def _nodes_block(lines: list[str], name: str) -> tuple[int, int]:
    """(first line after `nodes:`, line where its block ends)."""
    start = next((i for i, line in enumerate(lines) if line.startswith("nodes:")), None)
    if start is None:
        raise ConfigError(name, [Problem("nodes", "no top-level nodes: list", "add one")])
    end = start + 1
    last_content = start
    while end < len(lines) and not TOP_KEY.match(lines[end]):
        if lines[end].strip() and not lines[end].lstrip().startswith("#"):
            last_content = end
        end += 1
    return start + 1, last_content + 1


def add_node(text: str, node: dict, name: str) -> str:
    lines = text.splitlines(keepends=True)
    first, end = _nodes_block(lines, name)
    indent = next((m.group(1) for line in lines[first:end] if (m := ITEM.match(line))), "  ")
    block = [f"{indent}- name: {node['name']}\n"]
    block += [f"{indent}  {key}: {value}\n" for key, value in node.items() if key != "name"]
    return "".join(lines[:end] + block + lines[end:])


def remove_node(text: str, node_name: str, name: str) -> str:
    lines = text.splitlines(keepends=True)
    first, end = _nodes_block(lines, name)
    start = next(
        (
            i
            for i in range(first, end)
            if re.match(rf"^\s*- name: ['\"]?{re.escape(node_name)}['\"]?\s*$", lines[i])
        ),
        None,
    )
    if start is None:
        raise ConfigError(
            name, [Problem("nodes", f"no node named {node_name}", "check the node name")]
        )
    item = ITEM.match(lines[start])
    assert item is not None, "the node's line matched `- name:` above"
    indent = item.group(1)
    stop = start + 1
    while stop < end and not lines[stop].startswith(f"{indent}- "):
        stop += 1
    return "".join(lines[:start] + lines[stop:])


def set_version(text: str, key: str, version: str, name: str) -> str:
    """cluster.yml's `versions.<key>` set to `version`; every other line (comments,
    quotes, order) as it was."""
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"^versions:\s*(#.*)?$", line)), None
    )
    if start is None:
        raise ConfigError(name, [Problem("versions", "no top-level versions: table", "add one")])
    pattern = re.compile(rf"^(\s+{re.escape(key)}:\s*)(['\"]?)([^'\"\s#]*)\2(\s*(#.*)?)$")
    for i in range(start + 1, len(lines)):
        if TOP_KEY.match(lines[i]):
            break
        m = pattern.match(lines[i].rstrip("\n"))
        if m:
            ending = "\n" if lines[i].endswith("\n") else ""
            lines[i] = f"{m.group(1)}{m.group(2)}{version}{m.group(2)}{m.group(4)}{ending}"
            return "".join(lines)
    raise ConfigError(
        name, [Problem(f"versions.{key}", "not set in the versions: table", f"add `{key}:` there")]
    )


def at_kubernetes(path: Path, version: str) -> ClusterConfig:
    """The config of `path` as if it pinned Kubernetes `version`, checked like any
    config (a minor this tool knows, a Calico tested with it, ...); the file is not
    changed."""
    from provision.config.load import read_config_text

    text = set_version(read_config_text(path), "kubernetes", version, str(path))
    return load_text(text, str(path))


def replace_config(path: Path, text: str) -> ClusterConfig:
    """Check the new text as `path`, then write it atomically (nothing on error), in
    a new file of the same mode renamed over it: never through a link."""
    config = load_text(text, str(path))
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = os.stat_result((stat.S_IFREG | 0o644,) + (0,) * 9)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(
            f"{path}: not a regular file (a symlink?): provision edits only a file it can "
            "replace whole\n  fix: put the file itself there (`cp --remove-destination "
            f"$(readlink -f {path}) {path}`), or edit the nodes list by hand"
        )
    with private_file(path, mode=stat.S_IMODE(info.st_mode)) as f:
        f.write(text.encode("utf-8"))
    return config
