"""Add-on manifests rendered from the config, and the generated credentials."""

import json
import stat

import pytest
import yaml

from provision.addons.manifests import local_volumes, render_manifests, render_secrets
from provision.addons.secrets import ensure_secrets, secrets_file
from provision.config import load
from provision.errors import ConfigError


def config_of(write_config, data):
    return load(write_config(data))


@pytest.fixture
def upstream(lab):
    """The default lab as a real user's cluster would have it: upstream images,
    everything created, claims on NFS (the lab itself overrides those three)."""
    for key in ("images", "validate_only", "volumes"):
        lab["addons"].pop(key)
    lab["addons"]["elk"].pop("shipper")
    return lab


def docs(files: dict[str, str]) -> list[dict]:
    return [d for text in files.values() for d in yaml.safe_load_all(text) if d]


def by_kind_name(all_docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in all_docs}


def containers(doc):
    return doc["spec"]["template"]["spec"]["containers"]


def test_all_addons_render_with_pinned_images_and_node_ports(upstream, write_config):
    found = by_kind_name(docs(render_manifests(config_of(write_config, upstream))))
    assert containers(found["StatefulSet", "mysql"])[0]["image"] == "docker.io/library/mysql:8.4.7"
    assert (
        containers(found["StatefulSet", "rabbitmq"])[0]["image"]
        == "docker.io/library/rabbitmq:4.1.6-management"
    )
    ports = {
        name: [p["nodePort"] for p in found["Service", name]["spec"]["ports"]]
        for name in ("kibana", "rabbitmq", "zipkin")
    }
    assert ports == {"kibana": [30005], "rabbitmq": [30003, 30004], "zipkin": [30008]}
    assert found["StorageClass", "nfs"]["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true"
    }
    nfs = found["Deployment", "nfs-provisioner"]["spec"]["template"]["spec"]["volumes"][0]["nfs"]
    assert nfs == {"server": "192.168.56.10", "path": "/srv/nfs"}
    for (kind, _), d in found.items():
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            for c in containers(d):
                assert c["resources"]["limits"]["memory"], (kind, d["metadata"]["name"])
        if kind == "StatefulSet":
            (claim,) = d["spec"]["volumeClaimTemplates"]
            assert claim["spec"]["storageClassName"] == "nfs"


def test_heap_sizes_elasticsearch(lab, write_config):
    lab["addons"]["elk"]["elasticsearch_heap_mb"] = 512
    found = by_kind_name(docs(render_manifests(config_of(write_config, lab))))
    (es,) = containers(found["StatefulSet", "elasticsearch"])
    env = {e["name"]: e.get("value") for e in es["env"]}
    assert env["ES_JAVA_OPTS"] == "-Xms512m -Xmx512m"
    assert es["resources"]["limits"]["memory"] == "1024Mi"


def test_disabled_addons_are_not_rendered(lab, write_config):
    for name in ("elk", "rabbitmq", "zipkin", "nfs"):
        lab["addons"][name]["enabled"] = False
    lab["addons"]["validate_only"] = []
    lab["addons"]["volumes"] = "local"
    files = render_manifests(config_of(write_config, lab))
    assert list(files) == ["common.yaml", "local-storage.yaml", "mysql.yaml"]


def test_local_volumes_one_per_claim_pinned_to_workers(lab, write_config):
    lab["addons"]["volumes"] = "local"
    config = config_of(write_config, lab)
    volumes = {v.claim: (v.node, v.size_gb) for v in local_volumes(config)}
    assert volumes == {
        "data-elasticsearch-0": ("w2", 5),
        "data-mysql-0": ("w2", 2),
        "data-rabbitmq-0": ("w2", 1),
        "provision-verify": ("w1", 1),
    }
    found = by_kind_name(docs(render_manifests(config)))
    # the NFS objects are still rendered (to validate), but `nfs` is not the default
    assert "annotations" not in found["StorageClass", "nfs"]["metadata"]
    assert found["StorageClass", "local"]["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true"
    }
    pv = found["PersistentVolume", "lab-data-mysql-0"]["spec"]
    assert pv["claimRef"] == {"namespace": "addons", "name": "data-mysql-0"}
    assert pv["storageClassName"] == "local"
    terms = pv["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["w2"]


def test_static_nfs_volumes_one_directory_per_claim_and_no_provisioner(upstream, write_config):
    """provisioner static: no provisioner pod, a StorageClass nothing provisions, and
    one PersistentVolume per claim, bound to it, on its own directory of the export;
    the addons phase waits for no NFS workload and the role makes those directories."""
    from provision.addons.deploy import workloads
    from provision.addons.manifests import nfs_volumes

    upstream["addons"]["nfs"]["provisioner"] = "static"
    config = config_of(write_config, upstream)
    found = by_kind_name(docs(render_manifests(config)))
    assert not [k for k in found if k[1] == "nfs-provisioner"]
    assert found["StorageClass", "nfs"]["provisioner"] == "kubernetes.io/no-provisioner"
    pvs = {n: d["spec"] for (kind, n), d in found.items() if kind == "PersistentVolume"}
    assert sorted(pvs) == [
        "lab-nfs-data-elasticsearch-0",
        "lab-nfs-data-mysql-0",
        "lab-nfs-data-rabbitmq-0",
        "lab-nfs-provision-verify",
    ]
    mysql = pvs["lab-nfs-data-mysql-0"]
    assert mysql["claimRef"] == {"namespace": "addons", "name": "data-mysql-0"}
    assert mysql["nfs"] == {"server": "192.168.56.10", "path": "/srv/nfs/data-mysql-0"}
    assert mysql["capacity"] == {"storage": "2Gi"} and mysql["storageClassName"] == "nfs"
    claims = ["data-elasticsearch-0", "data-mysql-0", "data-rabbitmq-0", "provision-verify"]
    assert [v.path for v in nfs_volumes(config)] == [f"/srv/nfs/{c}" for c in claims]
    assert "deployment/nfs-provisioner" not in workloads(config)
    assert "statefulset/mysql" in workloads(config)
    # dynamic (the default): the provisioner, and no volume made by provision
    upstream["addons"]["nfs"]["provisioner"] = "dynamic"
    dynamic = config_of(write_config, upstream)
    assert ("Deployment", "nfs-provisioner") in by_kind_name(docs(render_manifests(dynamic)))
    assert nfs_volumes(dynamic) == [] and "deployment/nfs-provisioner" in workloads(dynamic)


def test_image_override_replaces_upstream(upstream, write_config):
    lab = upstream
    lab["addons"]["images"] = {"mysql": "provision.local/mariadb:10.11"}
    found = by_kind_name(docs(render_manifests(config_of(write_config, lab))))
    assert containers(found["StatefulSet", "mysql"])[0]["image"] == "provision.local/mariadb:10.11"


def test_zipkin_in_elasticsearch(lab, write_config):
    lab["addons"]["zipkin"]["storage"] = "elasticsearch"
    found = by_kind_name(docs(render_manifests(config_of(write_config, lab))))
    env = {e["name"]: e["value"] for e in containers(found["Deployment", "zipkin"])[0]["env"]}
    assert env["STORAGE_TYPE"] == "elasticsearch"
    assert env["ES_HOSTS"] == "http://elasticsearch.addons.svc.cluster.local:9200"


def test_secrets_generated_once_0600_and_rendered(lab, write_config, tmp_path):
    config = config_of(write_config, lab)
    first = ensure_secrets(config, tmp_path)
    path = secrets_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first["mysql-root-password"]) >= 20
    assert first["mysql-root-password"] != first["mysql-password"]
    assert ensure_secrets(config, tmp_path) == first  # kept across runs
    assert json.loads(path.read_text()) == first
    found = by_kind_name(d for d in yaml.safe_load_all(render_secrets(config, first)) if d)
    mysql = found["Secret", "mysql-credentials"]["stringData"]
    assert mysql["root-password"] == first["mysql-root-password"]
    assert found["Secret", "rabbitmq-credentials"]["stringData"]["user"] != "guest"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"images": {"postgres": "x:1"}}, "addons.images"),
        ({"images": {"mysql": " "}}, "addons.images"),
        ({"volumes": "hostpath"}, "addons.volumes"),
        ({"nfs": {"enabled": False}}, "addons.volumes"),
        ({"validate_only": ["nfs"]}, "addons.volumes"),
        ({"validate_only": ["kafka"]}, "addons.validate_only"),
        ({"zipkin": {"enabled": False}, "validate_only": ["zipkin"]}, "addons.validate_only"),
    ],
)
def test_bad_addon_settings_name_the_field(upstream, write_config, change, field):
    from provision.errors import ConfigError

    lab = upstream
    for key, value in change.items():
        if isinstance(value, dict) and key in lab["addons"]:
            lab["addons"][key].update(value)
        else:
            lab["addons"][key] = value
    with pytest.raises(ConfigError) as err:
        load(write_config(lab))
    assert field in str(err.value)


def test_adding_a_worker_never_moves_a_volume(lab, write_config):
    lab["addons"]["volumes"] = "local"
    before = {v.claim: v.node for v in local_volumes(config_of(write_config, lab))}
    lab["nodes"].append(
        {"name": "w3", "role": "worker", "cpus": 2, "memory_mb": 2048, "ip": "192.168.56.13"}
    )
    after = {v.claim: v.node for v in local_volumes(config_of(write_config, lab))}
    assert after == before


def test_elk_is_four_parts_each_its_own_manifest(upstream, write_config):
    files = render_manifests(config_of(write_config, upstream))
    assert [f for f in files if f.startswith(("elastic", "logstash", "kibana", "shipper"))] == [
        "elasticsearch.yaml",
        "logstash.yaml",
        "kibana.yaml",
        "shipper.yaml",
    ]
    found = by_kind_name(docs({"shipper.yaml": files["shipper.yaml"]}))
    (beat,) = containers(found["DaemonSet", "filebeat"])
    assert beat["image"] == "docker.elastic.co/beats/filebeat:8.19.7"
    assert (
        "logstash.addons.svc.cluster.local:5044"
        in (found["ConfigMap", "filebeat-config"]["data"]["filebeat.yml"])
    )


def test_rsyslog_shipper_sends_straight_to_elasticsearch(lab, write_config):
    config = config_of(write_config, lab)
    assert config.addons.validated_only() == ["nfs", "logstash", "kibana"]
    assert config.addons.deployed() == ["mysql", "rabbitmq", "zipkin", "elasticsearch", "shipper"]
    found = by_kind_name(docs({"s": render_manifests(config)["shipper.yaml"]}))
    assert set(found) == {("ConfigMap", "rsyslog-config"), ("DaemonSet", "rsyslog")}
    (shipper,) = containers(found["DaemonSet", "rsyslog"])
    assert shipper["image"] == "provision.local/addons/rsyslog:8.2302"
    conf = found["ConfigMap", "rsyslog-config"]["data"]["rsyslog.conf"]
    assert "elasticsearch.addons.svc.cluster.local" in conf
    assert "/var/log/containers/*.log" in conf


def test_rsyslog_shipper_needs_an_image(lab, write_config):
    del lab["addons"]["images"]["rsyslog"]
    with pytest.raises(ConfigError) as e:
        config_of(write_config, lab)
    assert "addons.elk.shipper" in str(e.value)
    assert "addons.images.rsyslog" in str(e.value)


def test_validate_only_takes_elk_parts(lab, write_config):
    lab["addons"]["validate_only"] = ["elk", "nfs"]
    config = config_of(write_config, lab)
    assert config.addons.validated_only() == [
        "nfs",
        "elasticsearch",
        "logstash",
        "kibana",
        "shipper",
    ]
    lab["addons"]["elk"]["enabled"] = False
    lab["addons"]["validate_only"] = ["kibana"]
    with pytest.raises(ConfigError) as e:
        config_of(write_config, lab)
    assert "kibana is listed but addons.elk is disabled" in str(e.value)
