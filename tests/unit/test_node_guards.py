"""What node operations refuse or keep before they change anything: an unknown
node, the control plane for add and remove, and a node holding the only copy of
bound volumes' data (parsed from `kubectl get pv -o json` as the API server
returns it): the add-ons' data a backup carries is kept, any other is refused."""

from __future__ import annotations

import json
import os

import pytest

from provision.addons.manifests import NAMESPACE
from provision.cli.common import console
from provision.config import load
from provision.errors import EXIT_CODES, UsageError
from provision.node_ops import NodeOpRefused, NodeOps
from provision.project import resolve_inventory
from provision.runlog import RunLog


@pytest.fixture
def ops(lab, write_config, tmp_path, monkeypatch) -> NodeOps:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = write_config(lab)
    inv = resolve_inventory(str(path))
    return NodeOps(inv, load(path), RunLog(inv.state_dir, "node-reset", console()))


def pv(name, node, *, kind="local", phase="Bound", scratch=False, claim=("data", "mysql")):
    spec = {
        kind: {"path": f"/srv/{name}"},
        "capacity": {"storage": "1Gi"},
        "claimRef": {"namespace": claim[0], "name": claim[1]},
        "nodeAffinity": {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                        ]
                    }
                ]
            }
        },
    }
    annotations = {"provision.io/scratch": "true"} if scratch else {}
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
        "status": {"phase": phase},
    }


def kubectl_pvs(*items):
    """What `kubectl get pv -o json` prints for these volumes."""
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})

    def sh(argv) -> str:
        assert " get pv -o json" in " ".join(argv), argv
        return text

    return sh


def test_unknown_node_is_a_usage_error_naming_the_nodes(ops):
    with pytest.raises(UsageError, match="no node named w9") as e:
        ops.worker("w9")
    assert "cp1, w1, w2" in str(e.value)


def test_the_control_plane_is_refused_for_worker_only_operations(ops):
    with pytest.raises(NodeOpRefused, match="cp1 is the control plane") as e:
        ops.worker("cp1")
    assert e.value.exit_code == 9 and "data" in EXIT_CODES[9]
    assert "node replace cp1" in str(e.value)  # the way that does work
    ops.worker("w1")  # a worker passes


def test_bound_local_and_hostpath_volumes_on_the_node_are_its_data(ops):
    sh = kubectl_pvs(
        pv("mysql-data", "w2"),
        pv("rabbit-data", "w2", kind="hostPath", claim=("mq", "rabbitmq")),
        pv("scratch", "w2", scratch=True),
        pv("released", "w2", phase="Released"),
        pv("elsewhere", "w1"),
        {"metadata": {"name": "nfs-pv"}, "spec": {"nfs": {}}, "status": {"phase": "Bound"}},
    )
    assert ops.local_data(sh, "w2") == {
        "data/mysql": "mysql-data (claim data/mysql, 1Gi)",
        "mq/rabbitmq": "rabbit-data (claim mq/rabbitmq, 1Gi)",
    }
    assert ops.local_data(sh, "w1") == {"data/mysql": "elsewhere (claim data/mysql, 1Gi)"}
    assert ops.local_data(sh, "cp1") == {}


def test_data_loss_is_refused_unless_forced(ops):
    sh = kubectl_pvs(pv("mysql-data", "w2"))
    with pytest.raises(NodeOpRefused, match="w2 holds data that lives only there") as e:
        ops.refuse_data_loss(sh, "w2", force=False)
    assert "--force" in str(e.value)
    ops.refuse_data_loss(sh, "w2", force=True)
    assert "is lost" in ops.log.path.read_text()
    ops.refuse_data_loss(sh, "w1", force=False)  # nothing held there


def test_the_addons_data_is_kept_other_data_refused_unless_forced(ops):
    addons = kubectl_pvs(
        pv("m", "w2", claim=(NAMESPACE, "data-mysql-0")),
        pv("r", "w2", claim=(NAMESPACE, "data-rabbitmq-0")),
    )
    assert ops.data_plan(addons, "w2", force=False) == [
        "mysql/dump.sql",
        "rabbitmq/definitions.json",
    ]
    assert ops.data_plan(addons, "w1", force=False) == []
    mixed = kubectl_pvs(
        pv("m", "w2", claim=(NAMESPACE, "data-mysql-0")),
        pv("e", "w2", claim=(NAMESPACE, "data-elasticsearch-0")),
    )
    with pytest.raises(NodeOpRefused, match="claim addons/data-elasticsearch-0") as e:
        ops.data_plan(mixed, "w2", force=False)
    assert "data-mysql-0" not in str(e.value)  # that one would be kept
    assert "put back either way" in str(e.value)
    # --force drops only what no backup carries
    assert ops.data_plan(mixed, "w2", force=True) == ["mysql/dump.sql"]
    assert "data-elasticsearch-0" in ops.log.path.read_text()


def test_node_add_with_no_cluster_leaves_cluster_yml_as_it_was(lab, write_config, tmp_path):
    """The real command: with no lab made, `node add` is refused before cluster.yml
    changes (the control plane must answer first), byte for byte."""
    from tests.conftest import provision

    path = write_config(lab)
    before = path.read_bytes()
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    out = provision(
        "node", "add", "w3", "--ip", "192.168.56.13", "-i", str(path), env=env, check=False
    )
    assert out.returncode == 2, out
    assert "fix:" in out.stderr
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*.tmp")), "a half-written config left behind"
