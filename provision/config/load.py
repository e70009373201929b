"""Read a cluster.yml into a ClusterConfig, or raise ConfigError listing every problem.

Errors name the file, the line (from the YAML node marks), the field path, what
is wrong and how to fix it.
"""

from __future__ import annotations

import typing
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from provision.config.checks import check
from provision.config.model import ClusterConfig
from provision.errors import ConfigError, Problem

Loc = tuple[str | int, ...]


def load(path: Path) -> ClusterConfig:
    """Parse, type-check and cross-check one cluster config file."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            name,
            [
                Problem(
                    "",
                    "file not found",
                    "create it (copy inventories/lab/cluster.yml) or pass "
                    "-i with an existing inventory",
                )
            ],
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(name, [Problem("", f"cannot read: {e}", "check the file")]) from None
    return load_text(text, name)


def load_text(text: str, name: str) -> ClusterConfig:
    """Parse and check config text; errors name `name` (the file it is for)."""
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


def parse_yaml(name: str, text: str) -> tuple[dict, dict[Loc, int]]:
    """YAML text -> (data, {field location: 1-based line})."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
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
    lines: dict[Loc, int] = {(): 1}
    duplicates: list[Problem] = []
    _walk(root, (), lines, duplicates)
    if duplicates:
        raise ConfigError(name, duplicates)
    return data, lines


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], duplicates: list[Problem]) -> None:
    """Record the line of every key and list item below `node`; report repeated keys
    (YAML parsers silently keep the last one)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, key.value)
            line = key.start_mark.line + 1
            if child in lines:
                duplicates.append(
                    Problem(
                        path_str(child),
                        f"key '{key.value}' appears twice (first at line {lines[child]})",
                        "keep one of them and merge their contents",
                        line,
                    )
                )
            lines[child] = line
            _walk(value, child, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _walk(item, (*loc, i), lines, duplicates)


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


def _problem(err: dict, lines: dict[Loc, int]) -> Problem:
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
        message = (
            f"{err['msg']} (got {value!r})" if not isinstance(value, dict | list) else err["msg"]
        )
        fix = _FIXES.get(kind, "correct the value") + described
    return Problem(path, message, fix, _line_for(loc, lines))


_FIXES = {
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
