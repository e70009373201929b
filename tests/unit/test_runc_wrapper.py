"""The runc wrapper Docker uses on container nodes (runtime_docker's provision-runc):
how it fits a process spec to what the node can grant."""

import importlib.util
import json
from importlib.machinery import SourceFileLoader

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "playbooks" / "roles" / "runtime_docker" / "files" / "provision-runc"


@pytest.fixture
def runc(monkeypatch):
    loader = SourceFileLoader("provision_runc", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)  # defines functions only: main() runs as a script
    monkeypatch.setattr(module, "own_oom_score_adj", lambda: 0)
    held = {"CAP_" + n for n in module.CAPABILITIES} - {"CAP_SYS_RESOURCE"}
    monkeypatch.setattr(module, "bounding_set", lambda: held)
    return module


def test_raises_a_lower_oom_score_adj_to_the_nodes(runc):
    process = {"oomScoreAdj": -998}
    assert runc.fit(process) is True
    assert process["oomScoreAdj"] == 0


def test_drops_capabilities_the_node_does_not_hold(runc):
    every = ["CAP_" + n for n in runc.CAPABILITIES]
    process = {"capabilities": {"bounding": list(every), "effective": ["CAP_CHOWN"]}}
    assert runc.fit(process) is True
    assert "CAP_SYS_RESOURCE" not in process["capabilities"]["bounding"]
    assert len(process["capabilities"]["bounding"]) == len(every) - 1
    assert process["capabilities"]["effective"] == ["CAP_CHOWN"]


def test_leaves_a_spec_that_fits_alone(runc):
    process = {"oomScoreAdj": 100, "capabilities": {"bounding": ["CAP_CHOWN"]}}
    assert runc.fit(process) is False


def test_finds_bundle_and_process_options(runc):
    args = ["--root", "/run/x", "--log", "l.json", "exec", "--process", "/tmp/p.json", "id"]
    assert runc.option(args, "--process", "-p") == "/tmp/p.json"
    assert runc.option(["create", "--bundle=/b", "id"], "--bundle", "-b") == "/b"
    assert runc.option(["start", "id"], "--bundle", "-b") is None


def test_rewrites_config_json_in_place(runc, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"process": {"oomScoreAdj": -999, "args": ["/pause"]}}))
    runc.rewrite(str(path), lambda spec: runc.fit(spec["process"]))
    assert json.loads(path.read_text())["process"] == {"oomScoreAdj": 0, "args": ["/pause"]}


def test_capability_table_matches_the_kernel_numbering(runc):
    assert runc.CAPABILITIES[0] == "CHOWN"
    assert runc.CAPABILITIES[21] == "SYS_ADMIN"
    assert runc.CAPABILITIES[24] == "SYS_RESOURCE"
    assert runc.CAPABILITIES[40] == "CHECKPOINT_RESTORE"
