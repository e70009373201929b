"""The whole VM lab (`tox -e vm-cluster`, not in CI's run): the suite's own copy of
inventories/lab-libvirt, a control plane and a worker on real VMs (QEMU's software
emulation where KVM does not work), made by `provision up` from no machines through
every phase, then asked: each VM's kernel and systemd (cgroup v2, swap off, the
modules loaded, no container-only setting in the kubelet, containerd or kube-proxy,
no runc wrapper), nothing installed or imported on the VMs (the box carries it),
both nodes Ready on their private IPs, Calico's VXLAN between the two kernels, a
pod on each VM resolving `kubernetes.default` and reaching the other VM's pods, and
MySQL on w1 keeping its rows on cp1's kernel NFS server (static NFS volumes; `up`
ends with verify: its storage and MySQL checks ran there). Then a second
`up --full` that changes nothing, `node reset w1` and `node replace w1` (a new VM)
with MySQL's rows kept, and a destroy that leaves no domain, volume or network.
Each phase's time is printed."""

from __future__ import annotations

import json
import time

import pytest

from provision.machines.ssh_hosts import connect
from provision.project import resolve_inventory
from tests.conftest import inventory_hosts, provision
from tests.integration.conftest import ensure_bundle
from tests.vm.conftest import CLUSTER_LAB
from tests.vm.test_libvirt_lab import endpoint, virsh

pytestmark = pytest.mark.vm
INV = str(CLUSTER_LAB.write())
STATE = resolve_inventory(INV).state_dir
KUBECTL = "sudo kubectl --kubeconfig /etc/kubernetes/admin.conf"
NODES = ("cp1", "w1")
REPORT: list[dict] = []  # the verify report of the first `up`


def on(node: str, command: str, timeout: int = 120) -> str:
    """stdout of `command` on a VM of this lab, as the login user over SSH, checked
    against this lab's pinned host keys (read again each time: a replaced VM has a
    new key and address)."""
    host = inventory_hosts(INV)[node]
    with connect(endpoint(host), STATE / "known_hosts") as conn:
        return conn.run(command, hide=True, in_stream=False, timeout=timeout).stdout.strip()


@pytest.fixture(scope="module")
def cluster():
    ensure_bundle()  # baked into the box
    provision("destroy", "--yes", "-i", INV)
    start = time.monotonic()
    try:
        provision("up", "-i", INV, timeout=5400)
        REPORT.extend(json.loads((STATE / "runs" / "latest" / "verify.json").read_text()))
    finally:
        seconds = time.monotonic() - start
        state = json.loads((STATE / "phases.json").read_text())["phases"]
        print(
            f"\nvm cluster: up {seconds:.0f} s: "
            + ", ".join(f"{name} {p.get('seconds', 0):.0f}s" for name, p in state.items())
        )
        if any(p.get("status") != "done" for p in state.values()):
            # what the VMs looked like (outside the repo), then no VM outlives a failure
            out = CLUSTER_LAB.config.parent / f"diagnose-{time.strftime('%Y%m%dT%H%M%S')}"
            provision("diagnose", "-i", INV, "--out", str(out), check=False, timeout=900)
            provision("destroy", "--yes", "-i", INV, check=False)
    yield
    provision("destroy", "--yes", "-i", INV, check=False)


def test_verify_ran_its_real_checks_and_dry_ran_the_validate_only_addons_on_the_vms(cluster):
    """What `up`'s verify wrote (verify.json of that run): the cluster, storage, MySQL
    and NFS checks passed for real; ELK's parts, RabbitMQ and Zipkin (validate_only
    in lab-libvirt) were accepted by the VMs' API server in a strict dry run."""
    status = {(r["addon"], r["check"]): r["status"] for r in REPORT}
    for check in [
        ("cluster", "every node Ready"),
        ("cluster", "systemd running on the control plane"),
        ("cluster", "systemd running on a worker"),
        ("storage", "a claim binds; a pod writes and reads"),
        ("mysql", "create, insert, select"),
        ("nfs", "export listed over NFSv4"),
    ]:
        assert status.get(check) == "passed", (check, REPORT)
    for addon, part in [
        ("elk", "elasticsearch"),
        ("elk", "logstash"),
        ("elk", "kibana"),
        ("elk", "shipper"),
        ("rabbitmq", "rabbitmq"),
        ("zipkin", "zipkin"),
    ]:
        assert status.get((addon, f"{part} manifests (validate only)")) == "validated", REPORT


def test_each_vm_has_its_own_kernel_with_cgroup_v2_no_swap_and_the_modules(cluster):
    states = {}
    for node in NODES:
        assert on(node, "stat -fc %T /sys/fs/cgroup") == "cgroup2fs", node
        assert on(node, "tail -n +2 /proc/swaps") == "", node
        modules = on(node, "cut -d' ' -f1 /proc/modules").split()
        assert {"overlay", "br_netfilter"} <= set(modules), (node, modules)
        assert on(node, "systemd-detect-virt") in ("qemu", "kvm"), node
        state = on(node, "systemctl is-system-running || true")
        if state != "running":
            state += ": " + on(node, "systemctl --failed --plain --no-legend || true")
        states[node] = state
    assert states == {node: "running" for node in NODES}


def test_no_container_only_setting_reaches_a_vm(cluster):
    for node in NODES:
        kubelet = on(node, "sudo cat /var/lib/kubelet/config.yaml")
        for setting in (
            "cgroupRoot",
            "failCgroupV1: false",
            "failSwapOn: false",
            "provision-resolv",
        ):
            assert setting not in kubelet, (node, setting)
        containerd = on(node, "sudo cat /etc/containerd/config.toml")
        assert "restrict_oom_score_adj = true" not in containerd, node
        assert "base_runtime_spec" not in containerd, node
        assert on(node, "test -e /usr/local/sbin/provision-runc && echo yes || echo no") == "no"
    proxy = on("cp1", f"{KUBECTL} -n kube-system get configmap kube-proxy -o json")
    assert "maxPerCore: 0" not in json.loads(proxy)["data"]["config.conf"]


def test_nothing_was_installed_or_imported_on_the_vms(cluster):
    """The box carries the packages, the bundle's binaries and its images: no package
    was installed after boot (dpkg's log), and each VM's kubelet binary, and the
    manifest blob of every Kubernetes, Calico and add-on image (MariaDB, from
    addons.images) in its containerd, are older than its boot (only the probe's
    image, made from busybox on each node, is new)."""
    blobs = "/var/lib/containerd/io.containerd.content.v1.content/blobs/sha256"
    for node in NODES:
        booted = int(on(node, 'date -d "$(uptime -s)" +%s'))
        kubelet = int(on(node, "stat -c %Y /usr/bin/kubelet"))
        assert kubelet < booted, f"{node}: /usr/bin/kubelet was written after boot"
        listing = on(node, "sudo ctr -n k8s.io images ls").splitlines()[1:]
        digests = {
            line.split()[0]: line.split()[2].removeprefix("sha256:")
            for line in listing
            if line.startswith(("registry.k8s.io/", "docker.io/calico/", "provision.local/"))
            and not line.startswith("provision.local/probe:")  # made on the node
        }
        assert any("/kube-proxy:" in ref for ref in digests), (node, listing)
        for ref, digest in digests.items():
            written = int(on(node, f"sudo stat -c %Y {blobs}/{digest}"))
            assert written < booted, f"{node}: {ref} was imported after boot"
        assert on(node, "sudo test -d /var/cache/provision/images && echo yes || echo no") == "no"
        # and no Debian package was installed on the VM since it booted (the NFS
        # server of the add-ons phase included: the box carries it)
        since = on(
            node,
            'awk -v boot="$(uptime -s)" \'$3 == "install" && $1 " " $2 >= boot\' /var/log/dpkg.log',
        )
        assert since == "", f"{node}: installed after boot: {since}"


def test_both_nodes_ready_on_their_private_ips(cluster):
    nodes = json.loads(on("cp1", f"{KUBECTL} get nodes -o json"))["items"]
    assert {n["metadata"]["name"] for n in nodes} == set(NODES)
    for n in nodes:
        name = n["metadata"]["name"]
        ready = {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
        assert ready == "True", name
        internal = [a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
        assert internal == [CLUSTER_LAB.ip(name)], (name, internal)


def test_calico_vxlan_joins_the_two_kernels(cluster):
    pools = json.loads(on("cp1", f"{KUBECTL} get ippools.crd.projectcalico.org -o json"))
    assert [p["spec"].get("vxlanMode") for p in pools["items"]] == ["Always"]
    for node in NODES:
        link = on(node, "ip -d link show vxlan.calico")
        assert "vxlan id" in link, (node, link)


def test_a_pod_on_each_vm_resolves_the_cluster_dns_and_reaches_the_other_vm(cluster):
    """A pod on each VM (the kube-proxy image: a Debian base with bash and getent)
    resolves kubernetes.default to the service range's first address, reaches the
    API server through it, and opens TCP to a CoreDNS pod on the other VM."""
    image = "registry.k8s.io/kube-proxy:v1.35.4"
    for node in NODES:
        spec = json.dumps({"spec": {"nodeName": node}})
        on(
            "cp1",
            f"{KUBECTL} -n default run probe-{node} --image {image} --restart Never "
            f"--overrides '{spec}' --command -- sleep 900",
        )
    try:
        on(
            "cp1",
            f"{KUBECTL} -n default wait pod/probe-cp1 pod/probe-w1 --for "
            "condition=Ready --timeout 600s",
            timeout=660,
        )
        dns = json.loads(
            on("cp1", f"{KUBECTL} -n kube-system get pods -l k8s-app=kube-dns -o json")
        )
        service_ip = f"10.{CLUSTER_LAB.net}.128.1"
        reached = set()
        for node in NODES:
            run = f"{KUBECTL} -n default exec probe-{node} -- bash -c"
            got = on("cp1", f"{run} 'getent hosts kubernetes.default'")
            assert got.split()[0] == service_ip, (node, got)
            on("cp1", f"{run} 'exec 3<>/dev/tcp/{service_ip}/443'")
            for pod in dns["items"]:
                if pod["spec"]["nodeName"] != node:
                    on("cp1", f"{run} 'exec 3<>/dev/tcp/{pod['status']['podIP']}/53'")
                    reached.add(node)
        assert reached, "no CoreDNS pod on a VM other than a probe's: nothing crossed"
    finally:
        on("cp1", f"{KUBECTL} -n default delete pod probe-cp1 probe-w1 --now --ignore-not-found")


def test_mysql_keeps_its_data_on_the_kernel_nfs_server_of_cp1(cluster):
    """The kernel's NFS server serves cp1's export; MySQL's pod (on w1: cp1 keeps
    its taint) mounts its claim from it over NFS, and the rows a client writes land
    in that claim's directory on cp1."""
    assert on("cp1", "systemctl is-active nfs-server") == "active"
    assert "/srv/nfs" in on("cp1", "sudo exportfs -v")
    pod = json.loads(on("cp1", f"{KUBECTL} -n addons get pod mysql-0 -o json"))
    assert pod["spec"]["nodeName"] == "w1"
    mounts = on("cp1", f"{KUBECTL} -n addons exec mysql-0 -- cat /proc/mounts").splitlines()
    (data,) = [m.split() for m in mounts if m.split()[1] == "/var/lib/mysql"]
    assert data[0] == f"{CLUSTER_LAB.ip('cp1')}:/srv/nfs/data-mysql-0", data
    assert data[2].startswith("nfs"), data
    sql = (
        f"{KUBECTL} -n addons exec mysql-0 -- sh -c 'mysql -h 127.0.0.1 -N "
        '-u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" -e "{}"\''
    )
    on(
        "cp1",
        sql.format("CREATE TABLE IF NOT EXISTS vm_nfs (n INT); INSERT INTO vm_nfs VALUES (7)"),
    )
    assert on("cp1", "sudo ls /srv/nfs/data-mysql-0/app").count("vm_nfs") >= 1
    assert "7" in on("cp1", sql.format("SELECT n FROM vm_nfs")).split()


def test_a_second_up_full_changes_nothing_on_the_vms(cluster):
    """Every phase again (not a resume) and every role (not skipped as converged):
    Ansible's own recap says no task changed anything on either VM."""
    start = time.monotonic()
    provision("up", "-i", INV, "--from", "machines", "--full", timeout=5400)
    print(f"\nvm cluster: second up --full {time.monotonic() - start:.0f} s")
    results = json.loads((STATE / "runs" / "latest" / "playbooks.json").read_text())
    assert results and {r["status"] for r in results} == {"successful"}, results
    for result in results:
        for host, stats in result["hosts"].items():
            assert stats["changed"] == 0, (result["playbook"], host, stats)


def node_uid(node: str) -> str:
    return on("cp1", f"{KUBECTL} get node {node} -o jsonpath='{{.metadata.uid}}'")


def ready(node: str) -> str:
    return on(
        "cp1",
        f"{KUBECTL} get node {node} -o "
        "jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'",
    )


def mysql_rows() -> list[str]:
    command = (
        f"{KUBECTL} -n addons exec mysql-0 -- sh -c 'mysql -h 127.0.0.1 -N "
        '-u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" -e "SELECT n FROM vm_nfs"\''
    )
    return on("cp1", command).split()


def test_node_reset_w1_rejoins_it_and_mysql_keeps_its_rows(cluster):
    """The same VM, wiped by kubeadm reset and joined again: a new Node object,
    Ready, MySQL's rows (on cp1's NFS) still there."""
    uid = node_uid("w1")
    domain = virsh("domuuid", f"{CLUSTER_LAB.name}-w1")
    start = time.monotonic()
    provision("node", "reset", "w1", "-i", INV, timeout=3600)
    print(f"\nvm cluster: node reset w1 {time.monotonic() - start:.0f} s")
    assert node_uid("w1") not in ("", uid), "w1 is the same Node object: never removed"
    assert virsh("domuuid", f"{CLUSTER_LAB.name}-w1") == domain, "reset made a new VM"
    assert ready("w1") == "True"
    on("cp1", f"{KUBECTL} -n addons rollout status statefulset/mysql --timeout 900s", 960)
    assert "7" in mysql_rows()


def test_node_replace_w1_makes_a_new_vm_and_mysql_keeps_its_rows(cluster):
    """vagrant-libvirt destroys w1's VM and makes it again from the box; the new
    VM joins, and MySQL comes back on it with the rows written before."""
    domain = virsh("domuuid", f"{CLUSTER_LAB.name}-w1")
    start = time.monotonic()
    provision("node", "replace", "w1", "-i", INV, timeout=3600)
    print(f"\nvm cluster: node replace w1 {time.monotonic() - start:.0f} s")
    assert virsh("domuuid", f"{CLUSTER_LAB.name}-w1") != domain, "w1 is the same VM"
    assert ready("w1") == "True"
    on("cp1", f"{KUBECTL} -n addons rollout status statefulset/mysql --timeout 900s", 960)
    assert "7" in mysql_rows()


def test_destroy_leaves_no_domain_volume_or_network():
    provision("destroy", "--yes", "-i", INV, timeout=900)
    prefix = f"{CLUSTER_LAB.name}-"
    assert [d for d in virsh("list", "--all", "--name") if d.startswith(prefix)] == []
    assert [n for n in virsh("net-list", "--all", "--name") if n.startswith(prefix)] == []
    volumes = [v.split()[0] for v in virsh("vol-list", "default")[2:]]
    assert [v for v in volumes if v.startswith(prefix)] == []
