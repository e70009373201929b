"""docs/config.md's field table is the model's: generated from it, never edited by
hand, and the rules it lists are the checks that run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from provision.config.checks import RULES
from provision.config.model import ClusterConfig
from provision.config.reference import generated_block, reference_markdown, write_into
from tests.conftest import CLI

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_docs_config_holds_the_reference_the_model_generates():
    assert generated_block(DOC.read_text(encoding="utf-8")) == reference_markdown(), (
        "docs/config.md differs from the model: run "
        "`provision schema --reference --write docs/config.md`"
    )


def _fields(model: type, prefix: str = "") -> set[str]:
    """Every field path of the model, sections included."""
    found = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        kinds = [field.annotation, *getattr(field.annotation, "__args__", ())]
        nested = next(
            (k for k in kinds if isinstance(k, type) and hasattr(k, "model_fields")), None
        )
        if nested is not None:
            where = f"{path}[]" if "list" in str(field.annotation) else path
            found |= {where} | _fields(nested, f"{where}.")
        else:
            found.add(path)
    return found


def test_every_field_of_the_model_has_a_row():
    rows = {
        line.split("|")[1].strip().strip("`")
        for line in reference_markdown().splitlines()
        if line.startswith("| `")
    }
    assert rows == _fields(ClusterConfig)


def test_every_rule_across_fields_has_its_line():
    text = reference_markdown()
    for rule in RULES:
        assert rule.__doc__, f"{rule.__name__} has no docstring: its line in docs/config.md"
        assert " ".join(rule.__doc__.split()) in text


def test_write_replaces_only_the_block_and_keeps_the_mode(tmp_path):
    doc = tmp_path / "config.md"
    stale = reference_markdown().replace("virtual CPUs", "stale words")
    doc.write_text(f"# Title\n\nprose before\n\n{stale}\nprose after\n")
    doc.chmod(0o640)
    assert write_into(doc) is True
    text = doc.read_text()
    assert text == f"# Title\n\nprose before\n\n{reference_markdown()}\nprose after\n"
    assert doc.stat().st_mode & 0o777 == 0o640
    assert write_into(doc) is False


def test_the_command_refuses_a_file_without_the_block(tmp_path):
    doc = tmp_path / "other.md"
    doc.write_text("# nothing generated here\n")
    run = subprocess.run(
        [CLI, "schema", "--reference", "--write", str(doc)], capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert "no generated block" in run.stderr and "Traceback" not in run.stderr
    assert doc.read_text() == "# nothing generated here\n"


def test_the_command_refuses_a_file_that_is_not_utf8(tmp_path):
    doc = tmp_path / "config.md"
    raw = reference_markdown().encode() + b"\xff\n"
    doc.write_bytes(raw)
    run = subprocess.run(
        [CLI, "schema", "--reference", "--write", str(doc)], capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert "not UTF-8" in run.stderr and doc.read_bytes() == raw
