"""Read a cluster.yml into a ClusterConfig, or raise ConfigError listing every problem.

Errors name the file, the line (from the YAML node marks), the field path, what
is wrong and how to fix it.

The file is untrusted input, read defensively: only a regular file (a FIFO, a
device such as /dev/zero, a directory or a symlink loop is refused before
anything is read; it is opened non-blocking and checked again once open), at most
MAX_BYTES, nested at most MAX_DEPTH deep, with at most MAX_ALIASES aliases, none
of them recursive, and at most MAX_NODES values once aliases are expanded (an
"alias bomb" is refused before it is built). Every key is a string.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from provision.config.checks import check
from provision.config.model import ClusterConfig
from provision.errors import ConfigError, Problem

Loc = tuple[str | int, ...]

MAX_BYTES = 1 << 20  # a cluster.yml is a few KiB
MAX_DEPTH = 32  # the schema nests 4 deep
MAX_ALIASES = 64
MAX_NODES = 20_000  # values after alias expansion
STR_TAG = "tag:yaml.org,2002:str"


def load(path: Path) -> ClusterConfig:
    """Parse, type-check and cross-check one cluster config file."""
    name = str(path)
    return load_text(read_config_text(path), name)


def _refuse(name: str, message: str, fix: str) -> ConfigError:
    return ConfigError(name, [Problem("", message, fix)])


def read_config_text(path: Path) -> str:
    """The text of a config file that is a regular file of at most MAX_BYTES."""
    name = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _refuse(
            name,
            "file not found",
            "create it (copy inventories/lab/cluster.yml) or pass -i with an existing inventory",
        ) from None
    except OSError as e:
        what = "a symlink loop" if e.errno == errno.ELOOP else e.strerror
        raise _refuse(name, f"cannot read: {what}", "point -i at a cluster.yml file") from None
    except ValueError as e:  # a NUL byte in the path
        raise _refuse(name, f"not a file name: {e}", "point -i at a cluster.yml file") from None
    _check_regular(name, info)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _refuse(name, f"cannot read: {e.strerror}", "check the file's permissions") from None
    try:
        _check_regular(name, os.fstat(fd))  # it may have been swapped since the stat
        data = b""
        while len(data) <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as e:
        raise _refuse(name, f"cannot read: {e.strerror}", "check the file") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise _too_big(name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _refuse(
            name, f"not UTF-8 text (byte {e.start})", "save the file as UTF-8 text"
        ) from None


def _check_regular(name: str, info: os.stat_result) -> None:
    mode = info.st_mode
    if stat.S_ISREG(mode):
        if info.st_size > MAX_BYTES:
            raise _too_big(name)
        return
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise _refuse(
        name,
        f"is {kind}, not a regular file",
        "point -i at an inventory name, its directory, or its cluster.yml file",
    )


def _too_big(name: str) -> ConfigError:
    return _refuse(
        name,
        f"larger than {MAX_BYTES // 1024} KiB: not a cluster config",
        "point -i at the inventory's cluster.yml",
    )


def load_text(text: str, name: str) -> ClusterConfig:
    """Parse and check config text; errors name `name` (the file it is for)."""
    if len(text) > MAX_BYTES:
        raise _too_big(name)
    data, lines = parse_yaml(name, text)
    try:
        config = ClusterConfig.model_validate(data)
    except ValidationError as e:
        problems = [_problem(err, lines) for err in e.errors()]
        raise ConfigError(name, sorted(problems, key=_order)) from None
    problems = [_with_line(p, lines) for p in check(config)]
    if problems:
        raise ConfigError(name, sorted(problems, key=_order))
    return config


class _Bounded(Exception):
    """The document exceeds a bound of the hardened loader."""

    def __init__(self, message: str, fix: str, mark):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.line = mark.line + 1 if mark is not None else None


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting, many aliases and recursive aliases while
    composing, before anything is constructed."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._open_anchors: set[str] = set()

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Bounded(
                    f"more than {MAX_ALIASES} aliases (*name)",
                    "write the values out instead of aliasing them",
                    event.start_mark,
                )
            if event.anchor in self._open_anchors:
                raise _Bounded(
                    f"alias *{event.anchor} refers to a value that contains it (recursive)",
                    "remove the recursive alias",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Bounded(
                f"nested more than {MAX_DEPTH} levels deep",
                "flatten the YAML: the config nests only a few levels",
                event.start_mark,
            )
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.discard(anchor)


def _size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values below `node` with aliases expanded (each distinct node counted once per
    path to it), computed in time linear in the distinct nodes."""
    known = memo.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_size(k, memo) + _size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_size(item, memo) for item in node.value)
    else:
        total = 1
    memo[id(node)] = total
    return total


def _compose(name: str, text: str) -> tuple[yaml.Node | None, BoundedLoader]:
    loader = BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None and _size(root, {}) > MAX_NODES:
            raise _Bounded(
                f"more than {MAX_NODES} values once aliases are expanded",
                "write the config without nested aliases",
                root.start_mark,
            )
        return root, loader
    except _Bounded as e:
        loader.dispose()
        raise ConfigError(name, [Problem("", e.message, e.fix, e.line)]) from None
    except yaml.YAMLError:
        loader.dispose()
        raise


def parse_yaml(name: str, text: str) -> tuple[dict, dict[Loc, int]]:
    """YAML text -> (data, {field location: 1-based line})."""
    try:
        root, loader = _compose(name, text)
        if root is None:
            loader.dispose()
            data = None
        else:
            lines: dict[Loc, int] = {(): 1}
            problems: list[Problem] = []
            _walk(root, (), lines, problems)
            if problems:
                loader.dispose()
                raise ConfigError(name, problems)
            try:
                data = loader.construct_document(root)
            finally:
                loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else None
        what = getattr(e, "problem", None) or str(e)
        raise ConfigError(
            name,
            [
                Problem(
                    "",
                    f"YAML syntax error: {what}",
                    "fix the YAML at that line (indentation, quotes, colons)",
                    line,
                )
            ],
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            name,
            [
                Problem(
                    "",
                    "the file must be a YAML mapping (key: value)",
                    "start from inventories/lab/cluster.yml",
                    1,
                )
            ],
        )
    return data, lines


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[Problem]) -> None:
    """Record the line of every key and list item below `node`; report repeated keys
    (YAML parsers silently keep the last one) and keys that are not strings."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            line = key.start_mark.line + 1
            if not isinstance(key, yaml.ScalarNode) or key.tag != STR_TAG:
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a mapping or list"
                problems.append(
                    Problem(
                        path_str(loc),
                        f"key {shown!r} is not a string (YAML reads it as "
                        f"{key.tag.rsplit(':', 1)[-1]})",
                        "write field names as plain words; quote a key that YAML reads as "
                        "a number, boolean or null",
                        line,
                    )
                )
                continue
            child = (*loc, key.value)
            if child in lines:
                problems.append(
                    Problem(
                        path_str(child),
                        f"key '{key.value}' appears twice (first at line {lines[child]})",
                        "keep one of them and merge their contents",
                        line,
                    )
                )
            lines[child] = line
            _walk(value, child, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _walk(item, (*loc, i), lines, problems)


def path_str(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_path(path: str) -> Loc:
    loc: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if part:
            loc.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(loc)


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None


def _with_line(p: Problem, lines: dict[Loc, int]) -> Problem:
    return Problem(p.path, p.message, p.fix, _line_for(parse_path(p.path), lines))


def _order(p: Problem) -> tuple[int, str]:
    return (p.line or 0, p.path)


def _problem(err: ErrorDetails, lines: dict[Loc, int]) -> Problem:
    loc: Loc = tuple(part for part in err["loc"] if not _is_union_tag(part))
    path = path_str(loc)
    kind = err["type"]
    field = _field_info(loc)
    described = f" ({field.description})" if field is not None and field.description else ""
    value = err.get("input")
    if kind == "extra_forbidden":
        parent = loc[:-1]
        known = ", ".join(_known_fields(parent)) or "none"
        noun = "add-on" if parent == ("addons",) else "field"
        message = f"unknown {noun} '{loc[-1]}'"
        fix = f"remove it or correct the spelling; known here: {known}"
    elif kind == "missing":
        message = "required field is missing"
        fix = f"add '{loc[-1]}'{described}"
    else:
        what = err["msg"].removeprefix("Value error, ")
        message = what if isinstance(value, dict | list) else f"{what} (got {_shown(value)})"
        fix = _FIXES.get(kind, "correct the value") + described
    return Problem(path, message, fix, _line_for(loc, lines))


# user:password@ in a URL: the password is never echoed back in an error
_URL_PASSWORD = re.compile(r"(://[^/@\s:]*):[^/@\s]*@")


def _shown(value: object) -> str:
    """The offending value, short enough for one line (repr escapes newlines), with a
    URL's password hidden."""
    text = _URL_PASSWORD.sub(r"\1:***@", repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


_FIXES = {
    "address_text": "write the address in dotted form, e.g. 192.168.56.10 or 10.244.0.0/16",
    "too_long": "remove entries",
    "string_too_long": "shorten it",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a string (quote it)",
    "string_pattern_mismatch": "use the expected form",
    "string_too_short": "give a non-empty value",
    "literal_error": "use one of the allowed values",
    "ip_v4_address": "write an IPv4 address such as 192.168.56.10",
    "ip_v4_network": "write a network in CIDR form with zero host bits, such as 10.244.0.0/16",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "too_short": "add at least one entry",
    "list_type": "write a YAML list (lines starting with '- ')",
    "model_type": "write a mapping (key: value lines)",
    "model_attributes_type": "write a mapping (key: value lines)",
    "dict_type": "write a mapping (key: value lines)",
}


def _is_union_tag(part: str | int) -> bool:
    return isinstance(part, str) and (
        part.startswith(("function-", "nullable[")) or part in {"SshAccess", "Nfs"}
    )


def _model_at(loc: Loc) -> type[BaseModel] | None:
    model: type[BaseModel] | None = ClusterConfig
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _known_fields(loc: Loc) -> list[str]:
    model = _model_at(loc)
    return list(model.model_fields) if model is not None else []


def _field_info(loc: Loc):
    if not loc or isinstance(loc[-1], int):
        return None
    model = _model_at(loc[:-1])
    return model.model_fields.get(loc[-1]) if model is not None else None
