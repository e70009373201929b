"""Which checks `provision verify` runs for a config (the checks themselves run
against the real lab in tests/e2e)."""

from provision.config import load
from provision.verify.run import plan


def names(config) -> list[tuple[str, str, bool, str]]:
    return [(c.addon, c.name, c.real, c.on) for c in plan(config)]


def test_the_default_lab_checks_real_addons_and_validates_the_others(lab, write_config):
    found = names(load(write_config(lab)))
    assert ("cluster", "every node Ready", True, "control-plane") in found
    assert ("storage", "a claim binds; a pod writes and reads", True, "control-plane") in found
    for addon in ("mysql", "rabbitmq", "zipkin"):
        assert any(a == addon and real for a, _, real, _ in found)
    assert ("elk", "manifests (validate only)", False, "control-plane") in found
    assert ("nfs", "manifests (validate only)", False, "control-plane") in found
    assert ("nfs", "export listed over NFSv4", True, "worker") in found
    assert ("elk", "container logs where the shipper reads", True, "control-plane") in found


def test_everything_created_runs_the_elk_checks(lab, write_config):
    for key in ("images", "validate_only", "volumes"):
        lab["addons"].pop(key)
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
        ("cluster", "every node Ready", True, "control-plane")
    ]
