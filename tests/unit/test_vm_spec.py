"""machines.json for VM providers (netmask, libvirt settings) and the VM checks."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network

import pytest
import yaml

from provision.config.load import load_text
from provision.machines.providers import libvirt, virtualbox
from provision.machines.providers.docker import DockerMachines
from provision.machines.providers.libvirt import LibvirtMachines
from provision.machines.providers.virtualbox import VirtualBoxMachines


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
    spec = LibvirtMachines.static_spec(config(lab), driver="kvm")
    assert spec["netmask"] == mask
    assert spec["prefixlen"] == IPv4Network(subnet).prefixlen


def test_libvirt_settings_per_cluster_and_driver(lab):
    spec = LibvirtMachines.static_spec(config(lab), driver="qemu")
    assert spec["libvirt"] == {
        "driver": "qemu",
        "default_prefix": "lab-",
        "network_name": "lab-nodes",
    }
    kvm = LibvirtMachines.static_spec(config(lab), driver="kvm")
    assert spec["boot_timeout"] > kvm["boot_timeout"]
    assert spec["halt_timeout"] > kvm["halt_timeout"]
    assert "libvirt" not in DockerMachines.static_spec(config(lab))


def no_host_addresses():
    return []


def test_virtualbox_range(lab):
    c = config(lab)
    assert VirtualBoxMachines.host_problems(c, addresses=no_host_addresses) == []
    lab["network"]["node_subnet"] = "10.20.0.0/24"
    lab["nodes"] = [dict(n, ip=f"10.20.0.{10 + i}") for i, n in enumerate(lab["nodes"])]
    c = config(lab)
    problems = VirtualBoxMachines.host_problems(c, addresses=no_host_addresses)
    assert [p.path for p in problems] == ["network.node_subnet"]
    assert "networks.conf" in problems[0].fix
    allowed = VirtualBoxMachines.host_problems(
        c,
        vbox_ranges=lambda: [IPv4Network("10.0.0.0/8")],
        addresses=no_host_addresses,
    )
    assert allowed == []


def test_vbox_networks_conf(tmp_path):
    conf = tmp_path / "networks.conf"
    assert virtualbox.vbox_allowed_ranges(conf) == virtualbox.VBOX_DEFAULT_RANGES
    conf.write_text("# comment\n* 10.0.0.0/8 192.168.0.0/16\n* 2001::/64\n")
    assert virtualbox.vbox_allowed_ranges(conf) == (
        IPv4Network("10.0.0.0/8"),
        IPv4Network("192.168.0.0/16"),
    )


def test_libvirt_management_network(lab):
    lab["network"]["node_subnet"] = "192.168.120.0/23"
    lab["nodes"] = [dict(n, ip=f"192.168.120.{10 + i}") for i, n in enumerate(lab["nodes"])]
    problems = LibvirtMachines.host_problems(config(lab), addresses=no_host_addresses)
    assert any(str(libvirt.LIBVIRT_MANAGEMENT) in p.message for p in problems)
    assert DockerMachines.host_problems(config(lab)) == []


def test_host_interface_collision(lab):
    c = config(lab)

    def addresses():
        return [("eth0", IPv4Interface("192.168.56.20/24"))]

    def own_bridge():
        return [("virbr1", IPv4Interface("192.168.56.1/24"))]

    problems = LibvirtMachines.host_problems(c, addresses=addresses)
    assert ["eth0" in p.message for p in problems] == [True]
    assert LibvirtMachines.host_problems(c, addresses=own_bridge) == []


def test_offline_box_is_libvirt_only(lab):
    lab["machines"]["box"] = "provision/bookworm"
    c = config(lab)
    problems = VirtualBoxMachines.host_problems(c, addresses=no_host_addresses)
    assert [p.path for p in problems] == ["machines.box"]
    assert LibvirtMachines.host_problems(c, addresses=no_host_addresses) == []


def test_box_carries_what_the_node_roles_install():
    """The offline box holds every package the node roles install (as the docker
    provider's node image does), so no phase runs dpkg under emulation."""
    from provision.machines import box
    from provision.machines.node_image import baked_packages
    from tests.conftest import ROOT

    defaults = yaml.safe_load((ROOT / "playbooks/roles/node_common/defaults/main.yml").read_text())
    packages = set(box.box_packages())
    assert set(defaults["node_common_packages"]) <= packages
    assert set(baked_packages()) <= packages
    assert {"docker.io", "containerd", "busybox-static", "python3-apt"} <= packages
    assert {"systemd-timesyncd", "linux-image-cloud-amd64"} <= packages
    assert box.box_name().startswith(box.OFFLINE_BOX + "-")


def test_the_box_bakes_the_bundle_and_is_made_again_when_the_bundle_changes(lab, tmp_path):
    """From a bundle: kubeadm, kubelet, kubectl and etcdutl at the paths the
    kube_packages role checks, the Kubernetes and Calico images and the add-on
    images the lab names in addons.images (not others of the bundle), and a box name
    that changes with any baked digest; no bundle, no bake."""
    from provision.bundle.manifest import Artifact, write_manifest
    from provision.errors import HostError
    from provision.machines import box

    def art(name, kind, path, sha="a" * 64):
        return Artifact(name=name, kind=kind, path=path, version="1", sha256=sha)

    artifacts = [
        art("kubeadm", "binary", "bin/kubeadm"),
        art("kubelet", "binary", "bin/kubelet"),
        art("kubectl", "binary", "bin/kubectl"),
        art("etcdutl", "binary", "bin/etcdutl"),
        art("cri-dockerd", "binary", "bin/cri-dockerd"),
        art("registry.k8s.io/pause:3.10.1", "image", "images/pause.tar"),
        art("provision.local/addons/zipkin:3.5.1", "addon-image", "images/addons/zipkin.tar"),
        art("provision.local/addons/other:1", "addon-image", "images/addons/other.tar"),
    ]
    lab["machines"]["provider"] = "libvirt"
    lab["artifacts"] = {"source": "bundle", "bundle_dir": str(tmp_path / "b")}
    (tmp_path / "b").mkdir()
    write_manifest(tmp_path / "b", "1.35.4", artifacts)
    bake = box.bake_plan(config(lab))
    assert bake is not None
    assert {(src, dst) for src, dst, _ in bake.binaries} == {
        ("bin/kubeadm", "/usr/bin/kubeadm"),
        ("bin/kubelet", "/usr/bin/kubelet"),
        ("bin/kubectl", "/usr/bin/kubectl"),
        ("bin/etcdutl", "/usr/local/bin/etcdutl"),
    }
    assert lab["addons"]["images"]["zipkin"] == "provision.local/addons/zipkin:3.5.1"
    assert [path for path, _ in bake.images] == ["images/addons/zipkin.tar", "images/pause.tar"]
    name = box.box_name(bake)
    assert name != box.box_name(None)
    artifacts[5] = art("registry.k8s.io/pause:3.10.1", "image", "images/pause.tar", "b" * 64)
    write_manifest(tmp_path / "b", "1.35.4", artifacts)
    assert box.box_name(box.bake_plan(config(lab))) != name

    artifacts[5] = art("registry.k8s.io/pause:3.10.1", "image", "images/../../etc/x.tar")
    write_manifest(tmp_path / "b", "1.35.4", artifacts)
    with pytest.raises(HostError, match="not a plain relative path"):
        box.bake_plan(config(lab))

    lab["artifacts"] = {"source": "online"}
    assert box.bake_plan(config(lab)) is None


def test_boot_timeout_is_the_providers_unless_the_config_sets_one(lab):
    assert LibvirtMachines.static_spec(config(lab), driver="qemu")["boot_timeout"] == 900
    lab["machines"] = {**lab.get("machines", {}), "boot_timeout_s": 45}
    assert LibvirtMachines.static_spec(config(lab), driver="qemu")["boot_timeout"] == 45
    assert VirtualBoxMachines.static_spec(config(lab))["boot_timeout"] == 45


def test_a_vm_that_did_not_boot_is_named_with_its_console_log(lab, tmp_path, monkeypatch):
    """The exit-4 error names the VM, the timeout it missed and its console file."""
    from provision.errors import MachinesError
    from provision.project import resolve_inventory
    from provision.runlog import RunLog

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(LibvirtMachines, "driver", classmethod(lambda cls: "qemu"))
    (tmp_path / "cluster.yml").write_text(yaml.safe_dump(lab))
    inv = resolve_inventory(str(tmp_path / "cluster.yml"))
    inv.state_dir.mkdir(parents=True)
    machines = LibvirtMachines(inv, config(lab), RunLog(inv.state_dir, "up", None))
    spec = machines.spec_extra()
    assert spec["console_dir"] == str(inv.state_dir / "console")
    assert (inv.state_dir / "console").is_dir()
    machines._not_booted.add("cp1")
    with pytest.raises(MachinesError) as failed:
        machines._raise_unless_ok(1, ["cp1"])
    text = str(failed.value)
    assert "cp1 did not answer SSH within 900 s (machines.boot_timeout_s)" in text, text
    assert f"its console log: {inv.state_dir / 'console' / 'cp1.log'}" in text, text
    assert failed.value.exit_code == 4
