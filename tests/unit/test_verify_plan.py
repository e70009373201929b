"""Which checks `provision verify` runs for a config (the checks themselves run
against the real lab in tests/e2e)."""

from pathlib import Path

import pytest

from provision.config import load
from provision.verify.checks import CheckFailed, dry_run
from provision.verify.run import plan


def names(config) -> list[tuple[str, str, bool, str]]:
    return [(c.addon, c.name, c.real, c.on) for c in plan(config, Path("/state/addons"))]


def test_the_default_lab_checks_real_addons_and_validates_the_others(lab, write_config):
    found = names(load(write_config(lab)))
    assert ("cluster", "every node Ready", True, "control-plane") in found
    assert ("storage", "a claim binds; a pod writes and reads", True, "control-plane") in found
    for addon in ("mysql", "rabbitmq", "zipkin"):
        assert any(a == addon and real for a, _, real, _ in found)
    real_elk = [n for a, n, real, _ in found if a == "elk" and real]
    assert real_elk == ["Elasticsearch indexes and finds a document", "a pod's log line searchable"]
    for part in ("logstash", "kibana"):
        assert ("elk", f"{part} manifests (validate only)", False, "control-plane") in found
    assert ("nfs", "nfs manifests (validate only)", False, "control-plane") in found
    assert ("nfs", "export listed over NFSv4", True, "worker") in found


def test_without_a_shipper_the_closest_check_is_the_node_log_file(lab, write_config):
    lab["addons"]["validate_only"] = ["elk", "nfs"]
    found = names(load(write_config(lab)))
    assert ("elk", "container logs where the shipper reads", True, "control-plane") in found
    assert not any(a == "elk" and "searchable" in n for a, n, _, _ in found)


def test_everything_created_runs_the_elk_checks(lab, write_config):
    for key in ("images", "validate_only", "volumes"):
        lab["addons"].pop(key)
    lab["addons"]["elk"].pop("shipper")
    found = names(load(write_config(lab)))
    assert ("elk", "a pod's log line searchable", True, "control-plane") in found
    assert ("elk", "Kibana status", True, "control-plane") in found
    assert not any(not real for _, _, real, _ in found)


def test_no_addons_only_the_cluster(lab, write_config):
    for name in ("elk", "rabbitmq", "zipkin", "mysql", "nfs"):
        lab["addons"][name]["enabled"] = False
    lab["addons"]["validate_only"] = []
    lab["addons"]["volumes"] = "nfs"
    assert names(load(write_config(lab))) == [
        ("cluster", "every node Ready", True, "control-plane"),
        ("cluster", "systemd running on the control plane", True, "control-plane"),
        ("cluster", "systemd running on a worker", True, "worker"),
    ]


def test_a_degraded_node_names_its_failed_units():
    from provision.verify.checks import systemd_running

    answers = {
        "is-system-running": "degraded\n",
        "--failed": "nfs-idmapd.service loaded failed failed NFSv4 ID-name mapping\n",
    }

    def sh(argv, check=True) -> str:
        return next(v for k, v in answers.items() if k in argv)

    with pytest.raises(CheckFailed, match=r"degraded; failed units: nfs-idmapd\.service"):
        systemd_running(sh)
    answers["is-system-running"] = "running\n"
    assert systemd_running(sh).endswith("running")


def test_a_dry_run_sends_the_rendered_manifest_with_the_command(tmp_path):
    manifest = tmp_path / "kibana.yaml"
    manifest.write_text('kind: Service\nmetadata: {name: "it\'s"}\n')
    sent = []

    def sh(argv) -> str:
        sent.append(list(argv))
        return "service/it's created (server dry run)\n"

    assert dry_run(manifest)(sh).startswith("1 objects accepted")
    # the node runner gives the manifest's text to kubectl on its stdin
    argv = sent[0]
    assert argv[argv.index("--text") + 1] == manifest.read_text()
    assert "--dry-run=server" in argv and argv[-2:] == ["-f", "-"]


def test_a_dry_run_of_a_manifest_not_rendered_says_how_to_render_it(tmp_path):
    with pytest.raises(CheckFailed, match="provision up --from addons"):
        dry_run(tmp_path / "nfs.yaml")(lambda command: "")


@pytest.mark.parametrize(("driver", "wait"), [("qemu", 480), ("kvm", 120)])
def test_the_storage_pod_is_waited_for_as_long_as_the_machines_need(
    lab, write_config, monkeypatch, driver, wait
):
    """Under QEMU's emulation the verify pod that mounts the claim on a worker VM took
    more than 120 s: its wait is 120 s times wait_scale (4 there)."""
    from provision.machines.providers.libvirt import LibvirtMachines

    monkeypatch.setattr(LibvirtMachines, "driver", classmethod(lambda cls: driver))
    lab["machines"]["provider"] = "libvirt"
    (storage,) = [c for c in plan(load(write_config(lab)), Path("/s")) if c.addon == "storage"]
    ran: list[tuple[list[str], int | None]] = []

    def sh(argv, timeout=None, check=True):
        ran.append((argv, timeout))
        if "pvc" in argv:
            return '{"spec": {"storageClassName": "nfs"}}'
        if "images" in argv or "image" in argv:
            return "provision.local/probe:1"
        return ""

    with pytest.raises(CheckFailed):  # the stand-in pod reads nothing back
        storage.run(sh)
    (waited,) = [(a, t) for a, t in ran if "wait" in a]
    assert f"--timeout={wait}s" in waited[0] and waited[1] == wait + 60
