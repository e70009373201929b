"""PROVISION_ANSIBLE_STRATEGY picks how Ansible runs modules: linear by default,
Mitogen when asked for and installed; anything else is refused with the fix."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from provision.errors import UsageError
from provision.playbooks.runner import strategy_env


def test_default_is_ansibles_own_linear():
    assert strategy_env({}) == {}
    assert strategy_env({"PROVISION_ANSIBLE_STRATEGY": "linear"}) == {}


def test_an_unknown_strategy_is_refused_naming_the_choices():
    with pytest.raises(UsageError, match="linear, mitogen"):
        strategy_env({"PROVISION_ANSIBLE_STRATEGY": "free; rm -rf /"})


def test_mitogen_points_ansible_at_its_strategy_plugins_or_names_the_install():
    env = {"PROVISION_ANSIBLE_STRATEGY": "mitogen"}
    if importlib.util.find_spec("ansible_mitogen") is None:
        with pytest.raises(UsageError, match=r"pip install -e '\.\[fast\]'"):
            strategy_env(env)
    else:
        got = strategy_env(env)
        assert got["ANSIBLE_STRATEGY"] == "mitogen_linear"
        assert (Path(got["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
