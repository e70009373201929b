"""The docker provider's node image bakes in the node roles' packages, read from
the roles' own defaults (one list), so `up` finds them installed."""

from __future__ import annotations

from pathlib import Path

import yaml

from provision.machines import node_image

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"


def defaults(role: str) -> dict:
    return yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())


def test_the_roles_packages_are_baked():
    wanted = set(defaults("node_common")["node_common_packages"]) | set(
        defaults("runtime_docker")["runtime_docker_distribution_packages"]
    )
    assert wanted <= set(node_image.PACKAGES) | set(node_image.baked_packages())
    assert {"docker.io", "containerd", "conntrack"} <= set(node_image.baked_packages())


def test_the_runtime_role_installs_the_list_that_is_baked():
    tasks = (ROLES / "runtime_docker" / "tasks" / "main.yml").read_text()
    assert "{{ runtime_docker_distribution_packages }}" in tasks


def test_a_changed_package_list_changes_the_image_tag(monkeypatch):
    before = node_image.image_tag()
    monkeypatch.setattr(node_image, "baked_packages", lambda: ("docker.io", "tcpdump"))
    assert node_image.image_tag() != before
