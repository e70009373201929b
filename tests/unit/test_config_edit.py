"""Adding and removing nodes in cluster.yml as text: comments stay, bad results
are refused before the file changes."""

import pytest
import yaml

from provision.config import load
from provision.config.edit import add_node, remove_node, replace_config
from provision.errors import ConfigError, UsageError
from tests.conftest import LAB

W3 = {"name": "w3", "role": "worker", "cpus": 2, "memory_mb": 2048, "ip": "192.168.56.13"}


def test_add_then_remove_round_trips_the_text(tmp_path):
    text = LAB.read_text()
    added = add_node(text, W3, "cluster.yml")
    assert "  - name: w3\n    role: worker\n" in added
    path = tmp_path / "cluster.yml"
    config = replace_config(path, added)
    assert [n.name for n in config.nodes] == ["cp1", "w1", "w2", "w3"]
    assert "# The default lab" in path.read_text()  # comments kept
    assert remove_node(added, "w3", "cluster.yml") == text


def test_remove_a_middle_node(tmp_path):
    text = remove_node(add_node(LAB.read_text(), W3, "cluster.yml"), "w1", "cluster.yml")
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    assert [n.name for n in load(path).nodes] == ["cp1", "w2", "w3"]


def test_a_bad_node_is_refused_and_the_file_is_untouched(tmp_path):
    path = tmp_path / "cluster.yml"
    path.write_text(LAB.read_text())
    clash = {**W3, "ip": "192.168.56.11"}  # w1's address
    with pytest.raises(ConfigError) as err:
        replace_config(path, add_node(path.read_text(), clash, str(path)))
    assert "192.168.56.11" in str(err.value) and str(path) in str(err.value)
    assert path.read_text() == LAB.read_text()
    assert list(tmp_path.iterdir()) == [path]


def test_the_file_is_replaced_whole_with_its_mode_never_written_through_a_link(tmp_path):
    """A link planted at the temp name is removed, not followed; the file keeps its
    mode; a cluster.yml that is itself a symlink is refused, its target untouched."""
    path = tmp_path / "cluster.yml"
    path.write_text(LAB.read_text())
    path.chmod(0o640)
    outside = tmp_path / "outside"
    outside.write_text("outside")
    (tmp_path / ".cluster.yml.tmp").symlink_to(outside)
    replace_config(path, add_node(path.read_text(), W3, str(path)))
    assert outside.read_text() == "outside"
    assert (path.stat().st_mode & 0o777) == 0o640
    assert "name: w3" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.yml", "outside"]

    target = tmp_path / "real.yml"
    target.write_text(LAB.read_text())
    link = tmp_path / "linked.yml"
    link.symlink_to(target)
    with pytest.raises(UsageError, match="not a regular file") as err:
        replace_config(link, add_node(link.read_text(), W3, str(link)))
    assert "fix:" in str(err.value)
    assert target.read_text() == LAB.read_text() and link.is_symlink()


def test_unknown_node_is_named():
    with pytest.raises(ConfigError, match="no node named w9"):
        remove_node(LAB.read_text(), "w9", "cluster.yml")


def test_validate_and_doctor_count_the_same_addon_memory():
    """validate_only parts are never created: neither validate nor doctor counts them."""
    from provision.config import compat
    from provision.config.model import ClusterConfig
    from provision.machines.providers.docker import DockerMachines

    data = yaml.safe_load(LAB.read_text())
    full = ClusterConfig.model_validate(data)
    data["addons"]["validate_only"] = ["elk"]
    light = ClusterConfig.model_validate(data)
    parts = compat.addon_memory_mb(light.addons, len(light.workers))
    assert "elasticsearch" not in parts and "mysql" in parts
    counted = sum(compat.addon_memory_mb(full.addons, len(full.workers)).values()) - sum(
        parts.values()
    )
    assert counted > 0
    assert DockerMachines.needed_memory_mb(full) - DockerMachines.needed_memory_mb(light) == counted


def test_a_list_written_without_indent_is_edited_in_its_own_style(tmp_path):
    """`- name:` at the start of the line (yaml.safe_dump's style) is as valid as
    `  - name:`: the node is added and removed in that style, the text stays valid."""
    text = yaml.safe_dump(yaml.safe_load(LAB.read_text()), sort_keys=False)
    assert "\n- name: w1\n" in text
    added = add_node(text, W3, "cluster.yml")
    assert "\n- name: w3\n  role: worker\n" in added
    path = tmp_path / "cluster.yml"
    config = replace_config(path, added)
    assert [n.name for n in config.nodes] == ["cp1", "w1", "w2", "w3"]
    assert remove_node(added, "w3", "cluster.yml") == text
