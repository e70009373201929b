"""The Jinja environment of every file provision generates (kubeadm config, add-on
manifests): escaping by construction.

A config string must never reach a generated YAML file as raw text: a newline or a
quote in it would add keys to the document. The environment enforces this with
Jinja's `finalize` hook, which sees the value of every `{{ ... }}` before it is
written:

- `Quoted` text passes: what the `yaml` filter returns, a YAML scalar (or flow
  collection) that parses back to exactly the value given, whatever characters it
  holds. Helpers that build YAML from constants (labels, selectors) return it too.
- `Token` text passes: a constant of the code (the namespace, the cluster domain, a
  socket path), checked when made to be a plain YAML word.
- Integers, IPv4 addresses and networks pass: their text is digits, dots and a
  slash, which cannot break out of any YAML position.
- Anything else, every plain `str` included, raises RawInterpolation when the
  template renders. Values taken from the config are plain strings, so a template
  that writes `{{ mysql.timezone }}` instead of `{{ mysql.timezone | yaml }}` fails
  on its first render (every template is rendered by the unit tests), rather than
  quietly writing whatever the config holds.

Strings that are built from several parts are joined first and quoted once:
`{{ (cluster_name ~ "-" ~ claim) | yaml }}`.
"""

from __future__ import annotations

import functools
import re
from ipaddress import IPv4Address, IPv4Network

import yaml
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, TemplateError


class RawInterpolation(TemplateError):
    """A template wrote a value without escaping it."""


class Quoted(str):
    """Text already escaped for its place in a YAML document."""


_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")


class Token(str):
    """A constant of the code that is a plain YAML word (no spaces, quotes or
    indicators), written as it is."""

    def __new__(cls, value: str) -> Token:
        if not _TOKEN.fullmatch(value):
            raise ValueError(f"{value!r} is not a plain token; pass it through |yaml")
        return super().__new__(cls, value)


def to_yaml(value: object) -> Quoted:
    """`value` as one YAML flow node that parses back to exactly `value`."""
    if isinstance(value, IPv4Address | IPv4Network):
        value = str(value)
    if isinstance(value, str):
        text = yaml.safe_dump(str(value), default_style='"', width=float("inf"), allow_unicode=True)
    else:
        text = yaml.safe_dump(
            value, default_flow_style=True, width=float("inf"), allow_unicode=True
        )
    return Quoted(text.removesuffix("\n").removesuffix("\n...").rstrip("\n"))


def finalize(value: object) -> object:
    if isinstance(value, Quoted | Token):
        return value
    if isinstance(value, int | IPv4Address | IPv4Network) and not isinstance(value, bool):
        return str(value)
    shown = repr(value)
    raise RawInterpolation(
        f"{type(value).__name__} {shown[:60]} reaches a template unescaped: "
        "write {{ value | yaml }}"
    )


@functools.cache
def environment(*folders: str) -> Environment:
    """The environment for the templates in provision/<folder>, the first folder
    that holds a name winning (one per list of folders, so each template is
    compiled once per process)."""
    env = Environment(
        loader=ChoiceLoader([PackageLoader("provision", f) for f in folders]),
        undefined=StrictUndefined,
        finalize=finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["yaml"] = to_yaml
    return env
