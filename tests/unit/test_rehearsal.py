"""What an upgrade rehearsal decides before it makes anything: the copy's config (its
own cluster name and node subnet, each node at the same place in it, the lab's pod
and service ranges kept, checked as any config is), a subnet that overlaps nothing
the host routes, and the refusals, through the real CLI on a lab with no machines
(exit 2, nothing made)."""

from __future__ import annotations

import ipaddress
import os

import pytest
import yaml

from provision.config.load import load, load_text
from provision.errors import UsageError
from provision.rehearsal import CANDIDATES, copy_text, free_subnet
from tests.conftest import ROOT, provision

LAB = ROOT / "inventories" / "lab" / "cluster.yml"


def test_the_copy_has_its_own_name_and_subnet_and_the_labs_ranges():
    config = load(LAB)
    text = copy_text(LAB.read_text(), config, "lab-rehearsal", "192.168.200.0/24")
    copy = load_text(text, "copy/cluster.yml")  # a config like any other
    assert copy.cluster.name == "lab-rehearsal"
    assert str(copy.network.node_subnet) == "192.168.200.0/24"
    old = ipaddress.ip_network(str(config.network.node_subnet))
    for mine, theirs in zip(copy.nodes, config.nodes, strict=True):
        assert mine.name == theirs.name and mine.role == theirs.role
        assert int(mine.ip) - int(ipaddress.ip_address("192.168.200.0")) == int(theirs.ip) - int(
            old.network_address
        )
    assert copy.network.pod_cidr == config.network.pod_cidr
    assert copy.network.service_cidr == config.network.service_cidr
    assert copy.versions == config.versions and copy.addons == config.addons


def test_a_subnet_of_another_size_is_refused():
    config = load(LAB)
    with pytest.raises(UsageError, match=r"not a /24"):
        copy_text(LAB.read_text(), config, "lab-rehearsal", "192.168.200.0/23")


def test_the_free_subnet_overlaps_nothing_the_host_routes():
    config = load(LAB)
    first = ipaddress.ip_network("192.168.192.0/24")
    assert free_subnet(config, []) == str(first)
    used = [first, ipaddress.ip_network("192.168.193.0/25"), ipaddress.ip_network("192.168.0.0/20")]
    assert free_subnet(config, used) == "192.168.194.0/24"
    with pytest.raises(UsageError, match="--subnet"):
        free_subnet(config, [CANDIDATES])
    # a node subnet larger than the candidates' range: no /N of it to offer
    wide = config.model_copy(
        update={"network": config.network.model_copy(update={"node_subnet": "10.200.0.0/16"})}
    )
    with pytest.raises(UsageError, match=r"(?s)no free /16 .*--subnet"):
        free_subnet(wide, [])


def test_rehearse_refusals_change_nothing(tmp_path):
    """On a lab with no machines: --subnet without --rehearse, and a rehearsal of the
    release the lab runs, each exit 2 before anything is made."""
    data = yaml.safe_load(LAB.read_text())
    data["cluster"]["name"] = "rh-unit"
    (tmp_path / "cluster.yml").write_text(yaml.safe_dump(data))
    config = str(tmp_path / "cluster.yml")
    version = data["versions"]["kubernetes"]
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}  # its own labs
    subnet = ("--subnet", "10.9.0.0/24")
    out = provision("upgrade", "-i", config, "--to", version, *subnet, check=False, env=env)
    assert out.returncode == 2 and "add --rehearse" in out.stderr
    out = provision("upgrade", "-i", config, "--to", version, "--rehearse", check=False, env=env)
    assert out.returncode == 2 and "no upgrade to rehearse" in out.stderr
    assert not list((tmp_path / "state").rglob("*-rehearsal*"))
