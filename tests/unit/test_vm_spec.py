"""machines.json for VM providers (netmask, libvirt settings) and the VM checks."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network

import pytest
import yaml

from provision.config.load import load_text
from provision.machines import vm_checks
from provision.machines.spec import machines_spec


def config(data: dict):
    return load_text(yaml.safe_dump(data), "cluster.yml")


@pytest.mark.parametrize(
    ("subnet", "mask", "ip"),
    [
        ("192.168.56.0/24", "255.255.255.0", "192.168.56.10"),
        ("192.168.56.0/21", "255.255.248.0", "192.168.57.10"),
        ("10.20.0.0/16", "255.255.0.0", "10.20.0.10"),
    ],
)
def test_netmask_is_dotted(lab, subnet, mask, ip):
    lab["network"]["node_subnet"] = subnet
    lab["nodes"] = [dict(lab["nodes"][0], ip=ip)]
    spec = machines_spec(config(lab), "libvirt")
    assert spec["netmask"] == mask
    assert spec["prefixlen"] == IPv4Network(subnet).prefixlen


def test_libvirt_settings_per_cluster_and_driver(lab):
    spec = machines_spec(config(lab), "libvirt", libvirt_driver="qemu")
    assert spec["libvirt"] == {
        "driver": "qemu",
        "default_prefix": "lab-",
        "network_name": "lab-nodes",
    }
    assert spec["boot_timeout"] > machines_spec(config(lab), "libvirt")["boot_timeout"]


def no_host_addresses():
    return []


def test_virtualbox_range(lab):
    c = config(lab)
    assert vm_checks.vm_problems(c, "virtualbox", addresses=no_host_addresses) == []
    lab["network"]["node_subnet"] = "10.20.0.0/24"
    lab["nodes"] = [dict(n, ip=f"10.20.0.{10 + i}") for i, n in enumerate(lab["nodes"])]
    c = config(lab)
    problems = vm_checks.vm_problems(c, "virtualbox", addresses=no_host_addresses)
    assert [p.path for p in problems] == ["network.node_subnet"]
    assert "networks.conf" in problems[0].fix
    allowed = vm_checks.vm_problems(
        c,
        "virtualbox",
        vbox_ranges=lambda: [IPv4Network("10.0.0.0/8")],
        addresses=no_host_addresses,
    )
    assert allowed == []


def test_vbox_networks_conf(tmp_path):
    conf = tmp_path / "networks.conf"
    assert vm_checks.vbox_allowed_ranges(conf) == vm_checks.VBOX_DEFAULT_RANGES
    conf.write_text("# comment\n* 10.0.0.0/8 192.168.0.0/16\n* 2001::/64\n")
    assert vm_checks.vbox_allowed_ranges(conf) == (
        IPv4Network("10.0.0.0/8"),
        IPv4Network("192.168.0.0/16"),
    )


def test_libvirt_management_network(lab):
    lab["network"]["node_subnet"] = "192.168.120.0/23"
    lab["nodes"] = [dict(n, ip=f"192.168.120.{10 + i}") for i, n in enumerate(lab["nodes"])]
    problems = vm_checks.vm_problems(config(lab), "libvirt", addresses=no_host_addresses)
    assert any("192.168.121.0/24" in p.message for p in problems)
    assert vm_checks.vm_problems(config(lab), "docker", addresses=no_host_addresses) == []


def test_host_interface_collision(lab):
    c = config(lab)

    def addresses():
        return [("eth0", IPv4Interface("192.168.56.20/24"))]

    def own_bridge():
        return [("virbr1", IPv4Interface("192.168.56.1/24"))]

    problems = vm_checks.vm_problems(c, "libvirt", addresses=addresses)
    assert ["eth0" in p.message for p in problems] == [True]
    assert vm_checks.vm_problems(c, "libvirt", addresses=own_bridge) == []


def test_offline_box_is_libvirt_only(lab):
    lab["machines"]["box"] = "provision/bookworm"
    c = config(lab)
    problems = vm_checks.vm_problems(c, "virtualbox", addresses=no_host_addresses)
    assert [p.path for p in problems] == ["machines.box"]
    assert vm_checks.vm_problems(c, "libvirt", addresses=no_host_addresses) == []


def test_box_carries_what_prepare_installs():
    """The offline box holds node_common's packages, so prepare finds them present."""
    from provision.machines import box
    from tests.conftest import ROOT

    defaults = yaml.safe_load((ROOT / "playbooks/roles/node_common/defaults/main.yml").read_text())
    assert set(defaults["node_common_packages"]) <= set(box.PACKAGES)
    assert "systemd-timesyncd" in box.PACKAGES
    assert box.box_name().startswith(box.OFFLINE_BOX + "-")
