import json

import pytest
import yaml
from click.testing import CliRunner

from provision.cli import cli
from tests.conftest import LAB


def render(tmp_path, *extra, config=LAB):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "-i", str(config), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def hosts_of(inventory: dict) -> dict:
    groups = inventory["all"]["children"]["k8s_cluster"]["children"]
    return {name: h for g in groups.values() for name, h in g["hosts"].items()}


def test_inventory_groups_and_node_ips(tmp_path, lab_data):
    out = render(tmp_path, "--provider", "docker")
    inventory = yaml.safe_load((out / "hosts.yml").read_text())
    groups = inventory["all"]["children"]["k8s_cluster"]["children"]
    assert list(groups["control_plane"]["hosts"]) == ["cp1"]
    assert list(groups["workers"]["hosts"]) == ["w1", "w2"]
    expected = {n["name"]: n["ip"] for n in lab_data["nodes"]}
    assert {name: h["node_ip"] for name, h in hosts_of(inventory).items()} == expected


def test_kubeadm_config_carries_the_configured_networks(tmp_path, lab, write_config):
    lab["network"]["pod_cidr"] = "10.200.0.0/16"
    lab["network"]["service_cidr"] = "10.100.0.0/16"
    out = render(tmp_path, "--provider", "virtualbox", config=write_config(lab))
    docs = list(yaml.safe_load_all((out / "kubeadm-config.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert kinds["ClusterConfiguration"]["networking"]["podSubnet"] == "10.200.0.0/16"
    assert kinds["ClusterConfiguration"]["networking"]["serviceSubnet"] == "10.100.0.0/16"
    assert kinds["ClusterConfiguration"]["kubernetesVersion"] == "v1.35.4"
    init = kinds["InitConfiguration"]
    assert init["localAPIEndpoint"]["advertiseAddress"] == "192.168.56.10"
    assert init["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-ip", "value": "192.168.56.10"}
    ]
    assert kinds["KubeletConfiguration"]["cgroupDriver"] == "systemd"


@pytest.mark.parametrize(
    ("provider", "containers"), [("docker", True), ("virtualbox", False), ("libvirt", False)]
)
def test_container_only_settings_only_for_container_nodes(tmp_path, provider, containers):
    out = render(tmp_path, "--provider", provider)
    kinds = {d["kind"]: d for d in yaml.safe_load_all((out / "kubeadm-config.yaml").read_text())}
    kubelet, proxy = kinds["KubeletConfiguration"], kinds["KubeProxyConfiguration"]
    assert ("failCgroupV1" in kubelet) is containers
    assert ("cgroupRoot" in kubelet) is containers
    assert ("conntrack" in proxy) is containers
    assert ("ignorePreflightErrors" in kinds["InitConfiguration"]["nodeRegistration"]) is containers
    assert proxy["mode"] == "iptables"


def test_registry_mirror_rewrites_every_image(tmp_path, lab, write_config):
    lab["registry"]["mirror"] = "registry.lab.internal:5000"
    lab["addons"].pop("images")  # the lab's own add-on images are not upstream ones
    lab["addons"]["elk"]["shipper"] = "filebeat"
    out = render(tmp_path, "--provider", "docker", config=write_config(lab))
    images = [
        c["image"]
        for f in sorted((out / "addons").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
        if d and d["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert "registry.lab.internal:5000/library/mysql:8.4.7" in images
    assert len(images) == 8 and all(i.startswith("registry.lab.internal:5000/") for i in images)
    cluster = next(
        d
        for d in yaml.safe_load_all((out / "kubeadm-config.yaml").read_text())
        if d["kind"] == "ClusterConfiguration"
    )
    assert cluster["imageRepository"] == "registry.lab.internal:5000"
    assert cluster["dns"]["imageRepository"] == "registry.lab.internal:5000/coredns"


def test_machines_spec_is_the_one_node_list(tmp_path, lab_data):
    out = render(tmp_path, "--provider", "docker")
    spec = json.loads((out / "machines.json").read_text())
    assert [(n["name"], n["ip"]) for n in spec["nodes"]] == [
        (n["name"], n["ip"]) for n in lab_data["nodes"]
    ]
    assert spec["provider"] == "docker"


def test_bad_config_renders_nothing(tmp_path, lab, write_config):
    lab["network"]["pod_cidr"] = "192.168.0.0/16"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "-i", str(write_config(lab)), "--out", str(out)])
    assert result.exit_code == 2
    assert not out.exists()


@pytest.mark.parametrize("name", ["yes", "null", "1e3", "true", "0x1f"])
def test_names_yaml_would_retype_stay_strings(tmp_path, lab, write_config, name):
    """Every config string reaches the files through the yaml filter: a cluster or node
    name that YAML would read as a boolean, null or number stays the same string."""
    lab["cluster"]["name"] = name
    lab["nodes"][0]["name"] = name
    lab["addons"]["nfs"]["server_node"] = name
    out = render(tmp_path, "--provider", "docker", config=write_config(lab))
    docs = list(yaml.safe_load_all((out / "kubeadm-config.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert kinds["ClusterConfiguration"]["clusterName"] == name
    assert kinds["InitConfiguration"]["nodeRegistration"]["name"] == name
    es = yaml.safe_load((out / "addons" / "elasticsearch.yaml").read_text().split("---")[1])
    env = {e["name"]: e["value"] for e in es["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["cluster.name"] == name


def test_hosts_yml_logs_in_as_up_does_once_machines_exist(tmp_path, lab, write_config, monkeypatch):
    """Before machines exist, hosts.yml holds the config's addresses (and says so);
    once `up` wrote the lab's inventory, render writes the same logins: Vagrant's user
    and forwarded ports, not root on port 22."""
    from provision.config import load
    from provision.inventory import write_inventory
    from provision.machines.base import SshEndpoint
    from provision.project import resolve_inventory

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config_path = write_config(lab)
    result = CliRunner().invoke(
        cli, ["render", "-i", str(config_path), "--out", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    assert "no machines made yet" in " ".join(result.output.split())
    inv = resolve_inventory(str(config_path))
    inv.state_dir.mkdir(parents=True)
    key = tmp_path / "key"
    endpoints = {
        n["name"]: SshEndpoint("127.0.0.1", 2200 + i, "vagrant", str(key))
        for i, n in enumerate(lab["nodes"])
    }
    write_inventory(inv.hosts_file, load(config_path), endpoints, inv.state_dir / "known_hosts")
    out = render(tmp_path / "b", config=config_path)
    rendered = hosts_of(yaml.safe_load((out / "hosts.yml").read_text()))
    written = hosts_of(yaml.safe_load(inv.hosts_file.read_text()))
    assert {n: (h["ansible_user"], h["ansible_port"]) for n, h in rendered.items()} == {
        n: ("vagrant", 2200 + i) for i, n in enumerate(h["name"] for h in lab["nodes"])
    }
    assert rendered == written


@pytest.mark.parametrize(("driver", "slower"), [("qemu", True), ("kvm", False)])
def test_kubelet_works_less_often_only_under_emulation(tmp_path, monkeypatch, driver, slower):
    """Under QEMU's emulation the kubelet's periodic work is spread out, and its node
    lease stays shorter than the controller manager's grace period (else every node
    would go NotReady between two renewals)."""
    from provision.machines.providers.libvirt import LibvirtMachines

    monkeypatch.setattr(LibvirtMachines, "driver", classmethod(lambda cls: driver))
    out = render(tmp_path, "--provider", "libvirt")
    kinds = {d["kind"]: d for d in yaml.safe_load_all((out / "kubeadm-config.yaml").read_text())}
    kubelet = kinds["KubeletConfiguration"]
    assert ("nodeLeaseDurationSeconds" in kubelet) is slower
    assert ("volumeStatsAggPeriod" in kubelet) is slower
    if slower:
        args = kinds["ClusterConfiguration"]["controllerManager"]["extraArgs"]
        grace = next(a["value"] for a in args if a["name"] == "node-monitor-grace-period")
        assert kubelet["nodeLeaseDurationSeconds"] < int(grace.rstrip("s"))
        assert kubelet["nodeStatusUpdateFrequency"] == "40s"


@pytest.mark.parametrize("item", ["etcd", "kube-apiserver", "kube-controller-manager"])
def test_emulated_api_servers_liveness_leaves_etcd_out(item):
    """The control plane's probe patch under emulation (rendered as Ansible's template
    module does: trim_blocks): every component's probes more patient; the API
    server's liveness and startup probes alone ask /livez without etcd (a slow etcd
    got it restarted again and again), its readiness is left as kubeadm writes it."""
    import jinja2

    from tests.conftest import ROOT

    templates = ROOT / "playbooks" / "roles" / "kube_control_plane" / "templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), trim_blocks=True)
    text = env.get_template("probe-patch.yaml.j2").render(item=item, wait_scale=4)
    (container,) = yaml.safe_load(text)["spec"]["containers"]
    assert container["name"] == item
    assert container["livenessProbe"]["failureThreshold"] == 32
    assert "readinessProbe" not in container
    for probe in ("livenessProbe", "startupProbe"):
        path = container[probe].get("httpGet", {}).get("path")
        assert path == ("/livez?exclude=etcd" if item == "kube-apiserver" else None)
