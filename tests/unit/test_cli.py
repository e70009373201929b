import json
import os
import re
import subprocess
import sys

from click.testing import CliRunner

from provision.cli import cli
from tests.conftest import LAB, ROOT


def test_validate_default_inventory_prints_nodes():
    result = CliRunner().invoke(cli, ["validate", "-i", str(LAB)])
    assert result.exit_code == 0, result.output
    for name in ("cp1", "w1", "w2", "192.168.56.10"):
        assert name in result.output
    assert "config OK: 3 nodes" in result.output


def test_validate_by_inventory_name_from_project_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("PROVISION_INVENTORY", raising=False)
    assert CliRunner().invoke(cli, ["validate"]).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", "-i", "nosuch"])
    assert result.exit_code == 2
    assert "no inventory 'nosuch'" in result.output and "lab" in result.output


def test_plan_lists_phases_in_order():
    result = CliRunner().invoke(cli, ["plan", "-i", str(LAB)])
    assert result.exit_code == 0, result.output
    order = [
        "machines",
        "prepare",
        "runtime",
        "kubernetes",
        "control-plane",
        "network",
        "join",
        "addons",
        "verify",
    ]
    rows = re.findall(r"│ (\d+) │ ([a-z-]+) +│", result.output)
    assert rows == [(str(i), name) for i, name in enumerate(order, 1)]
    assert "1.35.4" in result.output


def test_schema_is_json_schema_of_the_config():
    result = CliRunner().invoke(cli, ["schema"])
    schema = json.loads(result.output)
    assert set(schema["required"]) >= {"cluster", "nodes", "network", "versions"}
    assert "Node" in schema["$defs"]


def test_help_is_fast_and_imports_nothing_heavy():
    code = (
        "import sys, runpy; sys.argv=['provision','--help'];\n"
        "try:\n runpy.run_module('provision', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "heavy = [m for m in ('pydantic', 'rich', 'yaml', 'jinja2', 'ansible_runner', "
        "'fabric', 'paramiko', 'vagrant') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=True,
    ).stdout
    assert "HEAVY []" in out, out
