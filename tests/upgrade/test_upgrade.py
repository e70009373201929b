"""`provision upgrade` for real, on a lab of the suite's own made at the bundle's
earlier release (1.34) with the whole stack: what it refuses on that lab (nothing
changed); `upgrade --rehearse` on a copy, the lab untouched; an upgrade killed once
its control plane is done, a worker that does not come back stopping the roll, then
the upgrade finished by the same command (the backup not taken again); then asked of
the lab itself: every kubelet, the API server, the control plane's static pods and
kube-proxy at the target, the markers written before (a ConfigMap, MySQL rows, a
durable queue) still there, verify green, cluster.yml pinning the target with
nothing else changed. Last the nightly's form, `rebuild --upgrade-drill`, on the
same config.

Run by `tox -e upgrade` (not in CI's run: a second Kubernetes release in the bundle
and two labs with their add-ons are about 30 minutes more)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time

import pytest
import yaml

from provision.backup.drill import RABBIT_API
from provision.project import resolve_inventory
from provision.verify.checks import in_pod as in_pod_argv
from tests.conftest import CLI, ROOT, inventory_hosts, provision
from tests.integration.conftest import lab_containers
from tests.integration.test_machines import run_on
from tests.upgrade.conftest import FROM, LAB, TO

pytestmark = pytest.mark.upgrade
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
MARK = "upgrade-marker"
MYSQL = (
    "kubectl --kubeconfig /etc/kubernetes/admin.conf -n addons exec mysql-0 -- sh -c "
    '\'mysql -h 127.0.0.1 -N -u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" -e "{}"\''
)


def in_pod(pod: str, script: str, container: str | None = None) -> str:
    """provision's kubectl exec into a pod (argv), as this suite's shell command."""
    return shlex.join(in_pod_argv(pod, script, container))


def on_cp(command: str) -> str:
    return run_on("cp1", inventory_hosts()["cp1"], command)


def versions() -> dict[str, str]:
    """Each node's kubelet version and the API server's, asked of the cluster."""
    nodes = json.loads(on_cp(f"{KUBECTL} get nodes -o json"))["items"]
    found = {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}
    found["apiserver"] = json.loads(on_cp(f"{KUBECTL} get --raw /version"))["gitVersion"]
    return found


def state() -> object:
    return resolve_inventory(None).state_dir


def record() -> dict:
    path = state() / "operation.json"
    return json.loads(path.read_text()) if path.exists() else {}


def markers() -> dict:
    token = on_cp(
        f"{KUBECTL} -n {MARK} get configmap {MARK} -o jsonpath='{{.data.t}}' 2>/dev/null || true"
    ).strip()
    rows = on_cp(MYSQL.format("SELECT COUNT(*), SUM(id) FROM upgrade_marker") + " || true")
    queues = on_cp(
        f"{KUBECTL} -n addons exec rabbitmq-0 -- rabbitmqctl -q list_queues name durable "
        "--formatter json"
    )
    durable = sorted(q["name"] for q in json.loads(queues) if q.get("durable"))
    return {"configmap": token, "mysql": rows.split(), "durable": durable}


@pytest.fixture(scope="module")
def old_lab():
    """The bundle with both releases, and the lab made at the earlier one, marked."""
    from provision.bundle.manifest import bundle_releases
    from provision.config import load
    from provision.sources import bundle_dir

    held = bundle_releases(bundle_dir(load(ROOT / "inventories" / "lab" / "cluster.yml")))
    if not {FROM, TO} <= set(held):
        provision("bundle", "build", "--also", FROM, "-i", "lab", timeout=3600)
    provision("up", timeout=2400)
    on_cp(
        f"{KUBECTL} create namespace {MARK} --dry-run=client -o yaml | {KUBECTL} apply -f - && "
        f"{KUBECTL} -n {MARK} create configmap {MARK} --from-literal=t=kept-{FROM} "
        f"--dry-run=client -o yaml | {KUBECTL} apply -f -"
    )
    rows = ",".join(f"({i})" for i in range(1, 51))
    on_cp(
        MYSQL.format(
            "DROP TABLE IF EXISTS upgrade_marker; CREATE TABLE upgrade_marker (id INT PRIMARY "
            f"KEY); INSERT INTO upgrade_marker VALUES {rows};"
        )
    )
    on_cp(
        in_pod(
            "rabbitmq-0",
            f"{RABBIT_API}/queues/%2F/{MARK} -X PUT -H content-type:"
            "application/json -d '{\"durable\":true}'",
        )
    )
    before = markers()
    assert before["configmap"] == f"kept-{FROM}" and before["mysql"] == ["50", "1275"]
    assert MARK in before["durable"]  # beside verify's own
    return before


def test_the_lab_runs_the_earlier_release(old_lab):
    assert set(versions().values()) == {f"v{FROM}"}


@pytest.mark.parametrize(
    ("to", "says"),
    [
        ("1.35.9", "not 1.35.9"),  # the next minor, but not in the bundle
        ("1.36.1", "skips a minor"),
        ("1.33.7", "provision does not downgrade"),
        ("1.35", "is not a Kubernetes release"),
    ],
)
def test_what_upgrade_refuses_on_the_lab_changes_nothing(old_lab, to, says):
    before = LAB.config.read_bytes()
    out = provision("upgrade", "--to", to, check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert says in out.stderr and "nothing was changed" in out.stderr
    assert LAB.config.read_bytes() == before and not record()
    assert set(versions().values()) == {f"v{FROM}"}


def lab_facts() -> dict:
    """What says the lab was left alone: its containers, versions, markers, config,
    record and backups, and the host's blackhole routes for its ranges."""
    routes = subprocess.run(
        ["ip", "route", "show", "type", "blackhole"], capture_output=True, text=True, check=True
    ).stdout
    data = yaml.safe_load(LAB.config.read_text())
    return {
        "containers": sorted(lab_containers(LAB.name)),
        "versions": versions(),
        "markers": markers(),
        "config": LAB.config.read_bytes(),
        "record": record(),
        "backups": sorted(p.name for p in (state() / "backups").glob("*")),
        "blackholes": all(data["network"][k] in routes for k in ("pod_cidr", "service_cidr")),
    }


def test_a_rehearsal_upgrades_a_copy_and_leaves_the_lab_untouched(old_lab):
    """`upgrade --rehearse`: a copy of the lab (its own name and subnet) made, the
    lab's fresh backup restored onto it at the copy's addresses, upgraded, compared
    (the markers and every MySQL table's checksum), destroyed: GO. Asked of the
    real system: the copy's kubelets ran the target, the lab's containers, versions,
    markers, cluster.yml, record and backups are as before, and nothing of the copy
    is left (containers, network)."""
    before = lab_facts()
    assert before["blackholes"]
    start = time.monotonic()
    out = provision("upgrade", "--to", TO, "--rehearse", timeout=3600)
    print(f"\nupgrade --rehearse: {time.monotonic() - start:.0f} s")
    report = json.loads(max((state() / "rehearsals").glob("*.json")).read_text())
    print("rehearsal stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in report["stages"].items()))
    assert report["verdict"] == "GO", report
    assert "GO" in out.stdout
    copy = report["copy"]["cluster"]
    assert copy == f"{LAB.name}-rehearsal"
    assert (
        report["copy"]["node_subnet"] != yaml.safe_load(before["config"])["network"]["node_subnet"]
    )
    assert set(report["copy_versions"].values()) == {f"v{TO}"}, report["copy_versions"]
    assert {"copy-up", "restore", "upgrade", "compare", "destroy"} <= set(report["stages"])
    assert report["before"]["mysql_tables"]["upgrade_marker"]  # the lab's data, compared
    assert report["after"]["mysql_tables"] == report["before"]["mysql_tables"]
    assert lab_facts() == before
    assert lab_containers(copy) == []
    networks = subprocess.run(
        ["docker", "network", "ls", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # Vagrant's docker provider names a network after its subnet
    assert not [n for n in networks if report["copy"]["node_subnet"] in n], networks
    assert not (state() / f"{state().name.rsplit('-', 1)[0]}-rehearsal").exists()


def test_a_killed_upgrade_leaves_the_cluster_serving_and_its_record(old_lab):
    """SIGTERM once the control plane is upgraded: the command stops with 130, the
    record says what is done, and the cluster answers with its workers still at the
    earlier release (the skew the policy allows)."""
    proc = subprocess.Popen(
        [str(CLI), "upgrade", "--to", TO],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and proc.poll() is None:
        if record().get("stages", {}).get("control-plane", {}).get("status") == "done":
            break
        time.sleep(2)
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, output
    done = {n for n, s in record()["stages"].items() if s["status"] == "done"}
    assert {"backup", "images", "control-plane"} <= done and "config" not in done
    found = versions()
    assert found["apiserver"] == f"v{TO}" and found["cp1"] == f"v{TO}"
    assert f"v{FROM}" in {found["w1"], found["w2"]}


BROKEN = "/etc/systemd/system/kubelet.service.d/99-test-broken.conf"


def test_a_worker_that_does_not_come_back_stops_the_roll_and_the_rest_serve(old_lab):
    """w1's kubelet made unable to start (a drop-in whose ExecStartPre fails): the
    resumed upgrade stops at w1, names it (exit 5), and leaves w2 at the earlier
    release, Ready and schedulable, with the add-ons' data still served."""
    hosts = inventory_hosts()
    run_on(
        "w1",
        hosts["w1"],
        f"mkdir -p {os.path.dirname(BROKEN)} && "
        f"printf '[Service]\\nExecStartPre=/bin/false\\n' > {BROKEN}",
    )
    run_on("w1", hosts["w1"], "systemctl daemon-reload")
    try:
        out = provision("upgrade", "--to", TO, check=False, timeout=2400)
        assert out.returncode == 5, out.stdout + out.stderr
        assert "w1" in out.stderr
        stages = record()["stages"]
        assert stages["node w1"]["status"] == "failed" and "node w2" not in stages
        node = json.loads(on_cp(f"{KUBECTL} get node w2 -o json"))
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{FROM}"
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True" and not node["spec"].get("unschedulable")
        assert markers() == old_lab  # MySQL, RabbitMQ and the API answer
    finally:
        run_on("w1", hosts["w1"], f"rm -f {BROKEN} && systemctl daemon-reload")


def test_the_same_command_finishes_it_without_a_second_backup(old_lab):
    backups = sorted((state() / "backups").glob("*.tar.gz"))
    out = provision("upgrade", "--to", TO, timeout=2400)
    assert "resuming the run" in out.stdout + out.stderr
    assert sorted((state() / "backups").glob("*.tar.gz")) == backups
    assert not record()


def test_every_part_of_the_cluster_runs_the_target(old_lab):
    assert set(versions().values()) == {f"v{TO}"}
    for pod in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        manifest = yaml.safe_load(on_cp(f"cat /etc/kubernetes/manifests/{pod}.yaml"))
        assert manifest["spec"]["containers"][0]["image"].endswith(f"/{pod}:v{TO}")
    proxy = on_cp(
        f"{KUBECTL} -n kube-system get ds kube-proxy -o jsonpath="
        "'{.spec.template.spec.containers[0].image} "
        "{.status.numberReady}/{.status.desiredNumberScheduled}'"
    )
    assert f"/kube-proxy:v{TO} 3/3" in proxy
    for name, host in inventory_hosts().items():
        assert run_on(name, host, "kubelet --version").strip() == f"Kubernetes v{TO}"
        assert run_on(name, host, "kubeadm version -o short").strip() == f"v{TO}"


def test_the_data_written_before_is_still_there(old_lab):
    assert markers() == old_lab


def test_verify_is_green_and_cluster_yml_pins_the_target(old_lab):
    text = LAB.config.read_text()
    assert yaml.safe_load(text)["versions"]["kubernetes"] == TO
    provision("verify")
    again = provision("upgrade", "--to", TO)
    assert "nothing to do" in again.stdout + again.stderr


def test_the_nightly_upgrade_drill_passes_and_reports_each_stage(old_lab):
    """`rebuild --upgrade-drill` on the lab's config (now pinning the target): the lab
    made again at the earlier release, marked, upgraded, compared."""
    provision("rebuild", "--upgrade-drill", timeout=3600)
    run = max(p for p in (state() / "reports").iterdir() if p.is_dir())  # the newest
    latest = json.loads((run / "report.json").read_text())
    assert latest["passed"] is True and latest["drill"]["passed"] is True
    assert latest["drill"]["kind"] == f"upgrade {FROM} -> {TO}"
    names = {p["name"] for p in latest["phases"]}
    assert {"drill-markers", "drill-upgrade-control-plane", "drill-upgrade-node-w1"} <= names
    assert "drill-compare" in names
    assert set(versions().values()) == {f"v{TO}"}
    summary = (run / "summary.txt").read_text()
    assert f"upgrade {FROM} -> {TO} drill: PASSED" in summary
