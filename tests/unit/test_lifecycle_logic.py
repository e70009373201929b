"""The pure parts of the lab's life cycle: what `status` says `up` will do, when a
restarted lab counts as settled, and the certificates' dates as kubeadm and openssl
print them. And what `halt` refuses before it changes anything (a lab with no
machines, existing hosts), through the real CLI."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import yaml

from provision.addons.deploy import workloads
from provision.addons.manifests import NAMESPACE
from provision.certs import WARN_DAYS, Expiry, describe, parse_kubeadm, parse_openssl, summary
from provision.config import ClusterConfig
from provision.status import what_up_does
from provision.verify.settle import settle_lab, waiting_for
from tests.conftest import LAB, provision

T0 = datetime(2026, 12, 2, 21, 0, 0, tzinfo=UTC).timestamp()


def test_up_plan_for_each_kind_of_lab():
    assert what_up_does({"cp1": "not_created", "w1": "not_created"}, None).startswith("no machines")
    halted = what_up_does({"cp1": "stopped", "w1": "shutoff"}, None)
    assert halted.startswith("halted:") and "starts cp1, w1 again" in halted
    partly = what_up_does({"cp1": "running", "w1": "stopped", "w2": "not_created"}, "join")
    assert partly.startswith("partly running:")
    assert "makes w2" in partly and "starts w1" in partly and "resumes at phase join" in partly
    running = what_up_does({"cp1": "running", "w1": "running"}, None)
    assert running.startswith("running:") and "skips the playbooks that converged" in running


def node(name, status="True", beat="2026-12-02T21:00:05Z"):
    return {
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": status, "lastHeartbeatTime": beat}]},
    }


def pod(name, node_name, ns="addons", status="True", since="2026-12-02T21:00:30Z", phase="Running"):
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"nodeName": node_name},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": status, "lastTransitionTime": since}],
        },
    }


def test_settled_only_once_each_kubelet_reported_after_the_restart():
    spaces = {"kube-system", "addons"}
    fresh = {"items": [node("cp1"), node("w1")]}
    pods = {"items": [pod("mysql-0", "w1"), pod("etcd-cp1", "cp1", ns="kube-system")]}
    assert waiting_for(fresh, pods, {"cp1", "w1"}, T0, spaces) == []
    # Ready, but as recorded before the stop: stale until the kubelet reports
    stale = {"items": [node("cp1"), node("w1", beat="2026-12-02T20:59:00Z")]}
    assert waiting_for(stale, pods, {"cp1", "w1"}, T0, spaces) == ["node w1"]
    old_pod = {"items": [pod("mysql-0", "w1", since="2026-12-02T20:10:00Z")]}
    assert waiting_for(fresh, old_pod, {"cp1", "w1"}, T0, spaces) == ["pod addons/mysql-0"]
    not_ready = {"items": [pod("mysql-0", "w1", status="False")]}
    assert waiting_for(fresh, not_ready, {"cp1", "w1"}, T0, spaces) == ["pod addons/mysql-0"]


def test_settle_ignores_machines_not_restarted_done_pods_and_users_namespaces():
    spaces = {"kube-system", "addons"}
    nodes = {"items": [node("cp1"), node("w2", beat="2026-12-01T00:00:00Z")]}
    pods = {
        "items": [
            pod("old", "w2", since="2026-12-01T00:00:00Z"),  # w2 was not restarted
            pod("job", "cp1", status="False", phase="Succeeded"),
            pod("users", "cp1", ns="default", status="False"),
        ]
    }
    assert waiting_for(nodes, pods, {"cp1"}, T0, spaces) == []


def test_kubeadm_expirations_parsed_without_missing_or_external_ones():
    text = json.dumps(
        {
            "kind": "CertificateExpirationInfo",
            "certificates": [
                {"name": "apiserver", "expirationDate": "2027-12-02T20:58:40Z"},
                {"name": "admin.conf", "expirationDate": "2027-12-01T10:00:00Z"},
                {"name": "front-proxy-client", "missing": True, "expirationDate": ""},
                {
                    "name": "external",
                    "externallyManaged": True,
                    "expirationDate": "2026-12-03T00:00:00Z",
                },
            ],
            "certificateAuthorities": [{"name": "ca", "expirationDate": "2036-11-30T20:58:40Z"}],
        }
    )
    found = parse_kubeadm("cp1", text)
    assert sorted(e.name for e in found) == ["admin.conf", "apiserver", "ca"]
    assert all(e.not_after.tzinfo is UTC for e in found)


def test_openssl_enddate_parsed_with_its_padded_day():
    e = parse_openssl("w1", "kubelet client", "notAfter=Dec  2 20:58:42 2027 GMT\n")
    assert e.not_after == datetime(2027, 12, 2, 20, 58, 42, tzinfo=UTC)


def test_an_expiry_under_the_warning_days_says_to_renew():
    soon = Expiry("cp1", "apiserver", datetime.now(UTC).replace(microsecond=0))
    later = Expiry("w1", "kubelet client", datetime(2099, 1, 1, tzinfo=UTC))
    assert summary([soon, later])["warn"] and summary([later])["warn"] is False
    assert "provision certs renew" in describe([soon, later])
    assert "renew" not in describe([later]) and str(WARN_DAYS) not in describe([later])


def test_halt_of_a_lab_with_no_machines_changes_nothing(lab, write_config, tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    lab["machines"]["provider"] = "docker"
    path = write_config(lab)
    out = provision("halt", "-i", str(path), check=False, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "no machines: nothing to halt" in out.stderr and "provision up" in out.stderr
    assert not (tmp_path / "state" / "provision").exists() or not any(
        (tmp_path / "state" / "provision").rglob("machines.json")
    )


def test_halt_refuses_existing_hosts(lab, write_config, tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    lab["machines"] = {
        "kind": "ssh",
        "ssh": {
            "user": "root",
            "private_key": str(tmp_path / "key"),
            "known_hosts": str(tmp_path / "known_hosts"),
        },
    }
    for n in lab["nodes"]:
        n["address"] = str(n["ip"])
    path = write_config(lab)
    out = provision("halt", "-i", str(path), check=False, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "existing hosts are not provision's to stop" in out.stderr


def test_settle_lab_waits_for_each_addon_of_the_lab_within_its_machines_patience():
    """The one place that turns a lab into what settling waits for: every deployed
    add-on's rollout in provision's namespace, within 600 s on the docker provider."""
    config = ClusterConfig.model_validate(yaml.safe_load(LAB.read_text()))
    asked: list[tuple[str, int]] = []

    def sh(argv: list[str], timeout: int) -> str:
        command = " ".join(argv)
        asked.append((command, timeout))
        return "ok" if "readyz" in command else "" if "rollout" in command else '{"items": []}'

    settle_lab(sh, config, ["w1"], 0, lambda _: None, provider="docker")
    rollouts = [(c, t) for c, t in asked if "rollout status" in c]
    assert len(rollouts) == len(workloads(config)) > 0
    for (command, timeout), name in zip(rollouts, workloads(config), strict=True):
        assert f"-n {NAMESPACE} rollout status {name}" in command
        assert timeout <= 600 + 30
