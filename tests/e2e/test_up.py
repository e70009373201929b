"""End to end on the suite's lab (the default lab's config: every add-on), made by
the nightly command `provision rebuild`: from no machines to the whole stack,
verified, with its report. Every test below asks the lab itself: the control plane
up, Calico on every node, the workers on their private IPs, pods reaching each
other across nodes and resolving kubernetes.default (and the join probe failing
when DNS is down), the add-ons serving, a second `up` changing nothing, and no join
token or generated secret in a run log. kubectl runs inside cp1. (The restore
drill, a second build of this lab, runs in the ops tier: test_nightly.py.)
"""

import io
import json
import re
import shlex
import shutil
import stat
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from provision.addons.base import probe_image
from provision.addons.manifests import render_manifests, render_secrets
from provision.addons.secrets import wanted
from provision.config import load
from provision.machines.base import SshEndpoint
from provision.machines.ssh_hosts import as_root, connect
from tests.conftest import ROOT, bundle_source_by_host, inventory_hosts, provision
from tests.e2e.conftest import LAB
from tests.integration.conftest import ensure_bundle, known_hosts_file, lab_state, latest_run
from tests.integration.test_machines import run_on

pytestmark = pytest.mark.e2e
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
NODES = {name: LAB.ip(name) for name in ("cp1", "w1", "w2")}


@pytest.fixture(scope="module")
def cluster():
    ensure_bundle()
    provision("destroy", "--yes")
    shutil.rmtree(lab_state() / "reports", ignore_errors=True)
    start = time.monotonic()
    provision("rebuild")
    print(f"provision rebuild from no machines: {time.monotonic() - start:.1f} s")
    hosts = inventory_hosts()
    return hosts, latest_run()


def report() -> dict:
    (run,) = [p for p in (lab_state() / "reports").iterdir() if p.is_dir()]
    return json.loads((run / "report.json").read_text())


def on_cp(hosts, command: str) -> str:
    return run_on("cp1", hosts["cp1"], command)


def test_the_cluster_was_built_through_a_sudo_login(cluster):
    """Every playbook and remote command ran as `vagrant`, becoming root by sudo."""
    hosts, _ = cluster
    for name, host in hosts.items():
        assert host["ansible_user"] == "vagrant"
        assert run_on(name, host, "id -u", as_login=True) != "0"
    assert run_on("cp1", hosts["cp1"], "stat -c %U /etc/kubernetes/admin.conf") == "root"


def test_nodes_installed_from_the_read_only_bundle_mount(cluster):
    """The docker provider mounts the bundle read-only; the roles read it there."""
    hosts, run = cluster
    for name, host in hosts.items():
        out = run_on(name, host, "touch /opt/provision/bundle/x 2>&1; echo rc=$?")
        assert "Read-only file system" in out, (name, out)
    assert bundle_source_by_host(run / "ansible-kubernetes") == {n: True for n in hosts}
    assert bundle_source_by_host(run / "ansible-addons") == {n: True for n in hosts}


def test_nodes_registered_with_private_ips(cluster):
    hosts, _ = cluster
    nodes = json.loads(on_cp(hosts, f"{KUBECTL} get nodes -o json"))["items"]
    seen = {}
    for node in nodes:
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        seen[node["metadata"]["name"]] = addresses["InternalIP"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.4"
    assert seen == NODES


def test_every_node_ready_with_calico(cluster):
    hosts, _ = cluster
    nodes = json.loads(on_cp(hosts, f"{KUBECTL} get nodes -o json"))["items"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
    pods = json.loads(on_cp(hosts, f"{KUBECTL} -n kube-system get pods -o json"))["items"]
    calico = {
        p["spec"]["nodeName"]
        for p in pods
        if p["metadata"]["name"].startswith("calico-node-")
        and all(c["ready"] for c in p["status"].get("containerStatuses", []))
    }
    assert calico == set(NODES)
    coredns = [p for p in pods if p["metadata"]["name"].startswith("coredns-")]
    assert coredns and all(c["ready"] for p in coredns for c in p["status"]["containerStatuses"])
    pool = on_cp(hosts, f"{KUBECTL} get ippools.crd.projectcalico.org -o json")
    spec = json.loads(pool)["items"][0]["spec"]
    assert (spec["cidr"], spec["vxlanMode"], spec["ipipMode"]) == (
        f"10.{LAB.net}.0.0/17",
        "Always",
        "Never",
    )


def test_workers_hold_no_control_plane_image(cluster):
    hosts, _ = cluster
    assert "kube-apiserver" in on_cp(hosts, "ctr -n k8s.io images ls -q")
    for name in ("w1", "w2"):
        images = run_on(name, hosts[name], "ctr -n k8s.io images ls -q")
        assert "kube-proxy" in images and "calico/node" in images, images
        assert "kube-apiserver" not in images and "etcd" not in images, images


def test_control_plane_is_up(cluster):
    hosts, _ = cluster
    assert on_cp(hosts, f"{KUBECTL} get --raw /readyz") == "ok"
    pods = json.loads(on_cp(hosts, f"{KUBECTL} -n kube-system get pods -o json"))["items"]
    running = {p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Running"}
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component}-cp1" in running


def test_cluster_config_came_from_cluster_yml(cluster):
    hosts, _ = cluster
    config = on_cp(
        hosts,
        f"{KUBECTL} -n kube-system get cm kubeadm-config -o jsonpath="
        "'{.data.ClusterConfiguration}'",
    )
    assert f"podSubnet: 10.{LAB.net}.0.0/17" in config
    assert f"serviceSubnet: 10.{LAB.net}.128.0/17" in config


# kubeadm's bootstrap token: 6 characters, a dot, 16 (its secret half)
TOKEN = re.compile(r"\b[a-z0-9]{6}\.([a-z0-9]{16})\b")


def test_no_join_token_in_run_logs(cluster):
    """No bootstrap token in any file of any run (the rebuild's two ups joined the
    workers with tokens of their own; the restore brought back the first up's), and
    no token the cluster still lists, nor its secret half."""
    hosts, _ = cluster
    listing = on_cp(hosts, "kubeadm token list -o jsonpath='{.token}{\"\\n\"}'")
    tokens = [t for t in listing.split() if t]
    files = [p for p in (lab_state() / "runs").rglob("*") if p.is_file()]
    assert files
    for file in files:
        text = file.read_text(errors="replace")
        found = TOKEN.search(text)
        assert not found, f"a bootstrap token's shape in {file}: {found.group(0)[:7]}..."
        for token in tokens:
            assert token.split(".")[1] not in text, file


def probe_image_on(name: str, host: dict) -> str:
    """The busybox probe image the join phase made on that node, found the way
    verify finds it (provision.addons.base.probe_image), asked over SSH."""

    def sh(argv: list[str], check: bool = True) -> str:
        return run_on(name, host, shlex.join(argv) + ("" if check else " 2>/dev/null || true"))

    return probe_image(sh)


def listener(node: str, image: str) -> dict:
    """A pod pinned to `node` (no scheduler involved) that accepts TCP on 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"e2e-reach-{node}", "namespace": "addons"},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "listen",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": [
                        "/bin/busybox",
                        "sh",
                        "-c",
                        "mkdir -p /w && exec /bin/busybox httpd -f -p 8080 -h /w",
                    ],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
        },
    }


def test_pods_reach_pods_on_other_nodes_and_resolve_the_cluster_dns(cluster):
    """Asked of the pod network itself: from RabbitMQ's pod (its image has curl), a
    TCP connection to a pod pinned on every other node (curl prints the address it
    connected to, whatever the server there answers), and kubernetes.default
    resolved to the service range's first address. The pods are placed by nodeName,
    so the check does not depend on where the scheduler put the add-ons."""
    hosts, _ = cluster
    rabbit = json.loads(on_cp(hosts, f"{KUBECTL} -n addons get pod rabbitmq-0 -o json"))
    here = rabbit["spec"]["nodeName"]
    others = sorted(name for name in hosts if name != here)
    assert len(others) == len(hosts) - 1, (here, sorted(hosts))
    pods = [listener(node, probe_image_on(node, hosts[node])) for node in others]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    names = " ".join(f"pod/{p['metadata']['name']}" for p in pods)
    try:
        on_cp(hosts, f"echo {shlex.quote(text)} | {KUBECTL} apply -f -")
        on_cp(hosts, f"{KUBECTL} -n addons wait --for=condition=Ready {names} --timeout 120s")
        for node in others:
            pod = json.loads(on_cp(hosts, f"{KUBECTL} -n addons get pod e2e-reach-{node} -o json"))
            ip = pod["status"]["podIP"]
            out = on_cp(
                hosts,
                f"{KUBECTL} -n addons exec rabbitmq-0 -- curl -s -o /dev/null -m 10 "
                f"-w '%{{remote_ip}}' http://{ip}:8080/ || true",
            )
            assert out.strip() == ip, (here, node, out)
    finally:
        on_cp(hosts, f"{KUBECTL} -n addons delete {names} --wait=false --ignore-not-found")
    resolved = on_cp(
        hosts, f"{KUBECTL} -n addons exec rabbitmq-0 -- getent hosts kubernetes.default"
    )
    assert resolved.split()[0] == f"10.{LAB.net}.128.1", resolved


def test_rebuild_wrote_its_report_junit_and_history(cluster):
    (run,) = [p for p in (lab_state() / "reports").iterdir() if p.is_dir()]
    got = report()
    assert got["passed"] is True and got["drill"] is None
    assert all(p["status"] == "done" for p in got["phases"])
    suite = ET.parse(run / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 10
    assert "PASSED" in (run / "summary.txt").read_text()
    history = (lab_state() / "reports" / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["passed"] is True


def test_probe_fails_when_cluster_dns_is_down(cluster):
    hosts, _ = cluster
    on_cp(hosts, f"{KUBECTL} -n kube-system scale deployment coredns --replicas 0")
    try:
        out = provision("up", "--only", "join", "--full", check=False)
    finally:
        on_cp(hosts, f"{KUBECTL} -n kube-system scale deployment coredns --replicas 2")
        on_cp(hosts, f"{KUBECTL} -n kube-system rollout status deployment coredns --timeout 300s")
    assert out.returncode == 5, out.stdout + out.stderr
    assert "resolves kubernetes.default" in out.stdout + out.stderr
    phase = on_cp(
        hosts,
        f"{KUBECTL} get namespace provision-probe --ignore-not-found"
        " -o jsonpath='{.status.phase}'",
    )
    assert phase in ("", "Terminating"), "the probe pods must be deleted after a failure"


DRY_RUN_NS = "provision-dry-run"


def in_dry_run_namespace(doc: dict, ports_in_use: set[int]) -> dict:
    """The object as it would be in a namespace of its own, so the dry run checks it
    as new, whatever the add-ons phase already created in `addons` (whose Services
    already hold their node ports: the server accepted those when they were made)."""
    if doc["metadata"].get("namespace") == "addons":
        doc["metadata"]["namespace"] = DRY_RUN_NS
    for subject in doc.get("subjects", []):
        if subject.get("namespace") == "addons":
            subject["namespace"] = DRY_RUN_NS
    if doc["kind"] == "Service":
        for port in doc["spec"]["ports"]:
            if port.get("nodePort") in ports_in_use:
                del port["nodePort"]
    return doc


@pytest.mark.parametrize(("volumes", "shipper"), [("nfs", "filebeat"), ("local", "rsyslog")])
def test_addon_manifests_pass_server_side_dry_run(cluster, volumes, shipper, lab, write_config):
    """Every add-on object, both storage layouts and both log shippers, against the
    pinned API server with strict field validation (a dry run: nothing is created
    but a namespace, which is deleted again)."""
    hosts, _ = cluster
    lab["addons"]["volumes"] = volumes
    lab["addons"]["elk"]["shipper"] = shipper
    if volumes == "nfs":  # claims on NFS need the NFS add-on created, not validate_only
        lab["addons"]["validate_only"] = ["elk"]
    config = load(write_config(lab))
    files = render_manifests(config)
    fake = {k: "dry-run-value" for k in wanted(config)}
    in_use = {
        int(p) for p in on_cp(hosts, f"{KUBECTL} get svc -A -o jsonpath='{{..nodePort}}'").split()
    }
    objects = [
        in_dry_run_namespace(d, in_use)
        for text in [*files.values(), render_secrets(config, fake)]
        for d in yaml.safe_load_all(text)
        if d and d["kind"] not in ("Namespace", "PersistentVolume")
    ]
    manifest = "\n---\n".join(yaml.safe_dump(d) for d in objects)
    ep = hosts["cp1"]
    endpoint = SshEndpoint(
        ep["ansible_host"],
        ep["ansible_port"],
        ep["ansible_user"],
        ep["ansible_ssh_private_key_file"],
    )
    user = endpoint.user
    with connect(endpoint, known_hosts_file()) as conn:
        # uploaded as the login user (readable by root), kubectl run as root
        conn.put(io.StringIO(manifest), "/tmp/provision-addons-dry-run.yaml")
        conn.run(as_root(f"{KUBECTL} create namespace {DRY_RUN_NS}", user), hide=True)
        try:
            out = conn.run(
                as_root(
                    f"{KUBECTL} apply --dry-run=server --validate=strict "
                    "-f /tmp/provision-addons-dry-run.yaml",
                    user,
                ),
                hide=True,
                warn=True,
            )
        finally:
            conn.run(
                as_root(f"{KUBECTL} delete namespace {DRY_RUN_NS} --timeout 120s", user), hide=True
            )
            conn.run("rm -f /tmp/provision-addons-dry-run.yaml", hide=True)
    assert out.exited == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(lines) == len(objects), out.stdout


def test_every_addon_workload_is_ready_and_zipkin_answers_on_its_node_port(cluster):
    hosts, _ = cluster
    for kind, name in [
        ("statefulset", "mysql"),
        ("statefulset", "rabbitmq"),
        ("deployment", "zipkin"),
        ("statefulset", "elasticsearch"),
        ("daemonset", "rsyslog"),
    ]:
        got = json.loads(on_cp(hosts, f"{KUBECTL} -n addons get {kind} {name} -o json"))
        status = got["status"]
        if kind == "daemonset":
            assert status["numberReady"] == status["desiredNumberScheduled"] == 3, status
        else:
            assert status.get("readyReplicas") == got["spec"]["replicas"] >= 1, (name, status)
    code = on_cp(
        hosts, f"curl -s -o /dev/null -w '%{{http_code}}' http://{LAB.ip('cp1')}:30008/zipkin/"
    )
    assert code == "200"


def test_verify_runs_each_real_check(cluster):
    out = provision("verify").stdout
    text = " ".join(out.split())
    for addon, check in [
        ("cluster", "every node Ready"),
        ("cluster", "systemd running on the control plane"),
        ("cluster", "systemd running on a worker"),
        ("storage", "a claim binds; a pod writes and reads"),
        ("mysql", "create, insert, select"),
        ("rabbitmq", "publish and consume, durable queue"),
        ("zipkin", "accept a span, return its trace"),
        ("nfs", "export listed over NFSv4"),
        ("elk", "Elasticsearch indexes and finds a document"),
        ("elk", "a pod's log line searchable"),
    ]:
        assert f"PASSED {addon} {check}" in text, out
    for addon, part in [("elk", "logstash"), ("elk", "kibana"), ("nfs", "nfs")]:
        assert f"VALIDATED {addon} {part} manifests (validate only)" in text, out
    report = json.loads((latest_run() / "verify.json").read_text())
    assert {r["status"] for r in report} == {"passed", "validated"}


def test_verify_fails_when_an_addon_is_down(cluster):
    hosts, _ = cluster
    on_cp(hosts, f"{KUBECTL} -n addons scale deployment zipkin --replicas 0")
    on_cp(hosts, f"{KUBECTL} -n addons wait pod -l app.kubernetes.io/name=zipkin --for=delete")
    try:
        out = provision("verify", check=False)
    finally:
        on_cp(hosts, f"{KUBECTL} -n addons scale deployment zipkin --replicas 1")
        on_cp(hosts, f"{KUBECTL} -n addons rollout status deployment zipkin --timeout 300s")
    assert out.returncode == 7, out.stdout + out.stderr
    text = " ".join((out.stdout + out.stderr).split())
    assert "FAILED zipkin accept a span, return its trace" in text
    assert "PASSED mysql create, insert, select" in text  # the others still ran


def test_diagnose_shows_a_stopped_kubelet_a_pod_that_cannot_start_no_failed_unit_no_secret(
    cluster, tmp_path
):
    """Two faults made by hand (w1's kubelet stopped, a pod whose image is not on its
    node): `provision diagnose` collects them from the nodes and the API, with each
    node's failed units (none: a stopped kubelet is not a failed one), and its
    archive (0600) holds none of the lab's generated credentials, no bootstrap token
    and no private key. Its time and size are printed (README figures)."""
    import tarfile

    hosts, _ = cluster
    pod = (
        f"{KUBECTL} -n default run diag-missing --image provision.local/not-there:1 "
        "--image-pull-policy Never --restart Never"
    )
    on_cp(hosts, pod)
    # the kubelet must have tried (and refused) the image before it is stopped
    waiting = "{.status.containerStatuses[0].state.waiting.reason}"
    on_cp(
        hosts,
        f"{KUBECTL} -n default wait pod/diag-missing --timeout 180s "
        f"--for=jsonpath='{waiting}'=ErrImageNeverPull",
    )
    run_on("w1", hosts["w1"], "systemctl stop kubelet")
    try:
        started = time.monotonic()
        out = provision("diagnose", "--out", str(tmp_path)).stdout
        seconds = time.monotonic() - started
    finally:
        run_on("w1", hosts["w1"], "systemctl start kubelet")
        on_cp(hosts, f"{KUBECTL} -n default delete pod diag-missing --now --ignore-not-found")
        on_cp(hosts, f"{KUBECTL} wait node/w1 --for=condition=Ready --timeout 300s")
    (archive,) = tmp_path.glob("diagnostics-*.tar.gz")
    assert str(archive) in " ".join(out.split())
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    print(f"diagnose: {seconds:.1f} s, {archive.stat().st_size} bytes")
    with tarfile.open(archive) as tar:
        files = {
            m.name: tar.extractfile(m).read().decode(errors="replace")
            for m in tar.getmembers()
            if m.isfile()
        }
    journal = next(text for name, text in files.items() if name.endswith("w1/journal-kubelet.log"))
    assert re.search(r"Stopp(ed|ing) kubelet", journal), journal[-500:]
    units = {name: text for name, text in files.items() if name.endswith("/failed-units.txt")}
    assert len(units) == len(hosts), sorted(files)
    for name, text in units.items():  # every node's systemd: no unit failed
        assert text.startswith("systemctl is-system-running: running\nno failed units"), (
            name,
            text,
        )
    # the control plane's static pods, read from the kubelet's files on the node
    (apiserver,) = [t for n, t in files.items() if n.endswith("/static-pod-kube-apiserver.log")]
    assert re.search(r"one per start of the container\n=== \d+\.log", apiserver), apiserver[:300]
    described = "".join(text for name, text in files.items() if "diag-missing" in name)
    assert "ErrImageNeverPull" in described, sorted(files)
    secrets = json.loads((lab_state() / "secrets" / "addons.json").read_text())
    values = [v for k, v in secrets.items() if not k.endswith("-user")]
    for name, text in files.items():
        for value in values:
            assert value not in text, f"a generated credential is in {name}"
        assert not re.search(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b", text), f"a bootstrap token in {name}"
        key = re.search(r"PRIVATE KEY-----(\s|\\n)*[A-Za-z0-9+/=]{40}", text)
        assert not key, f"private key material in {name}"


def test_no_generated_secret_in_logs_or_repo(cluster):
    state = lab_state()
    path = state / "secrets" / "addons.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = [v for k, v in json.loads(path.read_text()).items() if k != "rabbitmq-user"]
    assert values and all(len(v) >= 20 for v in values)
    logs = [p for p in (state / "runs").rglob("*") if p.is_file()]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = logs + [ROOT / f for f in tracked if (ROOT / f).is_file()]
    for file in files:
        text = file.read_text(errors="replace")
        for value in values:
            assert value not in text, f"a generated secret is in {file}"


def test_up_writes_nothing_into_the_work_tree(cluster):
    """Generated files (the inventory, keys, Vagrant's records) live in the state dir."""
    status = subprocess.run(
        [
            "git",
            "status",
            "--porcelain",
            "--ignored",
            "--",
            "inventories",
            "Vagrantfile",
            "playbooks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""
    assert (lab_state() / "hosts.yml").is_file()


def test_second_up_changes_nothing(cluster):
    start = time.monotonic()
    # every phase (not a resume after the probe test's failed join) and every
    # role (not skipped as converged): none may change anything
    provision("up", "--from", "machines", "--full")
    print(f"second provision up --full: {time.monotonic() - start:.1f} s")
    results = json.loads((latest_run() / "playbooks.json").read_text())
    assert len(results) == 7 and {r["status"] for r in results} == {"successful"}, results
    for result in results:
        for host, stats in result["hosts"].items():
            assert stats["changed"] == 0, (result["playbook"], host, stats)


def test_a_converged_up_skips_its_playbooks_and_reruns_after_drift(cluster):
    hosts, _ = cluster
    out = provision("up").stdout
    results = json.loads((latest_run() / "playbooks.json").read_text())
    assert {r["status"] for r in results} == {"converged"}, results
    assert len(results) == 7
    assert "verify: 10 real checks passed" in " ".join(out.split())
    # a kubelet stopped by hand: its stamp names it, so join.yml (which starts it)
    # and every later playbook run again
    run_on("w1", hosts["w1"], "systemctl stop kubelet")
    provision("up")
    results = json.loads((latest_run() / "playbooks.json").read_text())
    assert [(Path(r["playbook"]).stem, r["status"]) for r in results] == [
        ("prepare", "converged"),
        ("runtime", "converged"),
        ("kubernetes", "converged"),
        ("control-plane", "converged"),
        ("network", "converged"),
        ("join", "successful"),
        ("addons", "successful"),
    ]
    assert run_on("w1", hosts["w1"], "systemctl is-active kubelet").strip() == "active"
    # a node without a stamp (as after a reset) makes the playbook run again
    run_on("w2", hosts["w2"], "rm /var/lib/provision/converged/runtime.yml")
    provision("up", "--only", "runtime")
    results = json.loads((latest_run() / "playbooks.json").read_text())
    assert [r["status"] for r in results] == ["successful"]
    assert "runtime.yml" in run_on("w2", hosts["w2"], "ls /var/lib/provision/converged").split()
