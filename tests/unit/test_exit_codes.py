"""One table of exit codes: set in provision/errors.py only, one meaning each, and
docs/operations.md's "Exit codes" section says the same."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import provision
from provision import errors
from provision.errors import EXIT_CODES, INTERRUPTED, ProvisionError

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
# The two codes with two classes: the root and the OS error share 1 (no class
# below applies); a bad config and a bad command line share 2.
SHARED = {1: {"ProvisionError", "OSFailure"}, 2: {"ConfigError", "UsageError"}}


def all_error_classes() -> set[type]:
    for mod in pkgutil.walk_packages(provision.__path__, "provision."):
        if not mod.name.endswith("__main__"):  # runs the CLI
            importlib.import_module(mod.name)
    seen: set[type] = set()
    todo = [ProvisionError]
    while todo:
        cls = todo.pop()
        seen.add(cls)
        todo.extend(c for c in cls.__subclasses__() if c not in seen)
    return seen


def test_exit_codes_are_set_only_in_errors_py():
    setters = {c for c in all_error_classes() if "exit_code" in vars(c)}
    elsewhere = sorted(
        f"{c.__module__}.{c.__qualname__}" for c in setters if c.__module__ != errors.__name__
    )
    assert not elsewhere, (
        f"set exit_code only in provision/errors.py; subclass its classes instead: {elsewhere}"
    )


def test_each_code_has_one_meaning():
    by_code: dict[int, set[str]] = {}
    for cls in all_error_classes():
        if cls.__module__ == errors.__name__ and "exit_code" in vars(cls):
            by_code.setdefault(cls.exit_code, set()).add(cls.__name__)
    for code, names in by_code.items():
        assert len(names) == 1 or names == SHARED.get(code), (
            f"exit code {code} has several meanings: {names}"
        )
    assert set(by_code) | {0, INTERRUPTED} == set(EXIT_CODES)


def test_every_error_has_a_documented_code():
    for cls in all_error_classes():
        assert cls.exit_code in EXIT_CODES, (
            f"{cls.__qualname__} exits {cls.exit_code}, not in EXIT_CODES"
        )


def test_the_docs_table_is_the_table():
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M))
    assert {int(k): v for k, v in rows.items()} == EXIT_CODES
