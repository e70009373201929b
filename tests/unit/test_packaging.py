"""What a user installs: the README installs provision with `pip install .`, so every file
the package opens at run time must be in the wheel, and the tests must run that install."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import provision
from tests.conftest import CLI, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built from this source tree, as `pip install .` builds it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("provision-*.whl")
    return zipfile.ZipFile(built)


def source_files() -> list[str]:
    """Every file of the package in the source tree that git tracks (the clone CI runs)."""
    listed = subprocess.run(
        ["git", "ls-files", "provision"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and listed.stdout.strip():
        return listed.stdout.split()
    return [
        str(p.relative_to(ROOT))
        for p in (ROOT / "provision").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]


def test_the_wheel_carries_every_file_of_the_package(wheel):
    """A data file left out of package-data (the libvirt box script was) makes the
    installed command fail the first time it opens it."""
    inside = set(wheel.namelist())
    missing = [name for name in source_files() if name not in inside]
    assert not missing, f"not in the wheel (add them to pyproject's package-data): {missing}"


def test_the_wheel_carries_the_box_script_executable_as_a_shell_script(wheel):
    text = wheel.read("provision/machines/box.sh").decode()
    assert text.startswith("#!"), text[:40]


def test_the_suites_import_the_installed_package_not_the_source_tree():
    """tox installs the wheel; pytest's importlib mode leaves the source tree off sys.path,
    so a file missing from the wheel fails here as it would for a user."""
    here = Path(provision.__file__).resolve()
    assert ROOT / "provision" not in here.parents, f"provision imported from {here}"


def test_the_cli_the_tests_run_is_the_installed_entry_point():
    out = subprocess.run(
        [str(CLI), "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip(), out
    where = subprocess.run(
        [sys.executable, "-P", "-c", "import provision; print(provision.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert not Path(where).resolve().is_relative_to(ROOT / "provision"), where
