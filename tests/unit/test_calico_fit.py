import os

import pytest
import yaml

from provision.config.model import ClusterConfig
from provision.playbooks.calico import (
    CalicoManifestError,
    fit,
    fitted_manifest,
    images,
    rewrite_image,
)
from tests.conftest import LAB

# A small stand-in with the shape of Calico's manifest (our own text).
MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata: {name: calico-config, namespace: kube-system}
data: {calico_backend: vxlan}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: calico-node, namespace: kube-system}
spec:
  template:
    spec:
      initContainers:
        - {name: install-cni, image: docker.io/calico/cni:v3.28.5}
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.28.5
          livenessProbe:
            exec: {command: [/bin/calico-node, -felix-live]}
            periodSeconds: 10
            timeoutSeconds: 10
            failureThreshold: 6
          readinessProbe:
            exec: {command: [/bin/calico-node, -felix-ready]}
            periodSeconds: 10
            timeoutSeconds: 10
          env:
            - {name: CALICO_IPV4POOL_IPIP, value: Always}
            - name: IP_AUTODETECTION_METHOD
              valueFrom: {configMapKeyRef: {name: x, key: y}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: calico-kube-controllers, namespace: kube-system}
spec:
  template:
    spec:
      containers:
        - {name: calico-kube-controllers, image: docker.io/calico/kube-controllers:v3.28.5}
"""


def config(**network) -> ClusterConfig:
    data = yaml.safe_load(LAB.read_text())
    data["network"].update(network)
    return ClusterConfig.model_validate(data)


def node_env(text: str) -> dict:
    ds = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "DaemonSet")
    env = ds["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e.get("value") for e in env}


def test_pool_encapsulation_and_autodetection_follow_the_config():
    env = node_env(fit(MANIFEST, config(pod_cidr="10.200.0.0/16")))
    assert env["CALICO_IPV4POOL_CIDR"] == "10.200.0.0/16"
    assert (env["CALICO_IPV4POOL_IPIP"], env["CALICO_IPV4POOL_VXLAN"]) == ("Never", "Always")
    assert env["IP_AUTODETECTION_METHOD"] == "cidr=192.168.56.0/24"


def test_registry_mirror_rewrites_every_image():
    data = yaml.safe_load(LAB.read_text())
    data["registry"]["mirror"] = "mirror.lab:5000"
    fitted = fit(MANIFEST, ClusterConfig.model_validate(data))
    assert images(fitted) == {
        "mirror.lab:5000/calico/cni:v3.28.5",
        "mirror.lab:5000/calico/node:v3.28.5",
        "mirror.lab:5000/calico/kube-controllers:v3.28.5",
    }
    assert rewrite_image("calico/node:v1", "m:1") == "m:1/calico/node:v1"


def test_manifest_without_calico_node_is_refused():
    with pytest.raises(CalicoManifestError, match="no calico-node DaemonSet"):
        fit("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", config())


def test_calico_reaches_the_api_server_directly_not_through_the_service():
    fitted = list(yaml.safe_load_all(fit(MANIFEST, config())))
    endpoint = next(d for d in fitted if d["metadata"]["name"] == "kubernetes-services-endpoint")
    assert endpoint["kind"] == "ConfigMap" and endpoint["metadata"]["namespace"] == "kube-system"
    assert endpoint["data"] == {
        "KUBERNETES_SERVICE_HOST": "192.168.56.10",
        "KUBERNETES_SERVICE_PORT": "6443",
    }
    ds = next(d for d in fitted if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    for c in ds["initContainers"] + ds["containers"]:
        refs = [s["configMapRef"]["name"] for s in c["envFrom"]]
        assert refs == ["kubernetes-services-endpoint"]  # added once, also on a re-fit
    assert fit(fit(MANIFEST, config()), config()).count("name: kubernetes-services-endpoint") == 3


def test_calico_node_readiness_is_checked_every_few_seconds():
    docs = [d for d in yaml.safe_load_all(fit(MANIFEST, config())) if d]
    node = next(d for d in docs if d["metadata"]["name"] == "calico-node")
    probe = node["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["periodSeconds"] == 3
    assert probe["exec"]["command"] == ["/bin/calico-node", "-felix-ready"]
    assert probe["timeoutSeconds"] == 10


@pytest.mark.parametrize("make", ["fifo", "symlink", "not-utf8", "missing"])
def test_a_bundle_manifest_that_is_no_small_text_file_is_refused_at_once(tmp_path, make):
    """The bundle is read, never trusted: a FIFO would hang a plain read, a symlink
    could point anywhere, and the fitted copy is written only from a good one."""
    source = tmp_path / "bundle" / "manifests" / "calico.yaml"
    source.parent.mkdir(parents=True)
    if make == "fifo":
        os.mkfifo(source)
    elif make == "symlink":
        (tmp_path / "elsewhere.yaml").write_text("kind: List\n")
        source.symlink_to(tmp_path / "elsewhere.yaml")
    elif make == "not-utf8":
        source.write_bytes(b"\xff\xfe")
    config = ClusterConfig.model_validate(yaml.safe_load(LAB.read_text()))
    out = tmp_path / "state" / "calico.yaml"
    out.parent.mkdir()
    with pytest.raises(CalicoManifestError) as e:
        fitted_manifest(config, tmp_path / "bundle", out)
    assert str(source) in str(e.value) and "fix:" in str(e.value)
    assert not out.exists()


def calico_node(text: str) -> dict:
    docs = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "DaemonSet"]
    return docs[0]["spec"]["template"]["spec"]["containers"][0]


def test_probes_are_upstreams_at_hardware_speed():
    node = calico_node(fit(MANIFEST, config()))
    assert "startupProbe" not in node
    assert node["livenessProbe"]["timeoutSeconds"] == 10


def test_under_emulation_a_startup_probe_holds_the_liveness_probe_off():
    """wait_scale 4 (VMs under QEMU's emulation): Felix may take up to 20 minutes to
    start before the liveness probe can restart it, and each check may take 40 s."""
    node = calico_node(fit(MANIFEST, config(), scale=4))
    startup = node["startupProbe"]
    assert startup["exec"] == {"command": ["/bin/calico-node", "-felix-live"]}
    assert startup["periodSeconds"] * startup["failureThreshold"] == 1200
    assert node["livenessProbe"]["timeoutSeconds"] == 40
    assert node["readinessProbe"]["timeoutSeconds"] == 40
    assert startup["timeoutSeconds"] == 40


def test_under_emulation_each_probe_runs_scale_times_less_often():
    """Each probe is an exec of calico-node: under emulation one took more than 30 s,
    and a readiness check every 3 s kept several running at once on the control plane."""
    upstream = calico_node(fit(MANIFEST, config()))
    node = calico_node(fit(MANIFEST, config(), scale=4))
    assert upstream["readinessProbe"]["periodSeconds"] == 3
    assert node["readinessProbe"]["periodSeconds"] == 40
    assert node["livenessProbe"]["periodSeconds"] == 4 * upstream["livenessProbe"].get(
        "periodSeconds", 10
    )
    assert node["startupProbe"]["periodSeconds"] == 40
    # each probe still outlasts its own timeout
    for name in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert node[name]["periodSeconds"] >= node[name]["timeoutSeconds"]


def kube_controllers(text: str) -> dict:
    docs = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment"]
    return docs[0]["spec"]["template"]["spec"]["containers"][0]


PROBED = MANIFEST.replace(
    "- {name: calico-kube-controllers, image: docker.io/calico/kube-controllers:v3.28.5}",
    """- name: calico-kube-controllers
          image: docker.io/calico/kube-controllers:v3.28.5
          livenessProbe:
            exec: {command: [/usr/bin/check-status, -l]}
            periodSeconds: 10
            timeoutSeconds: 10
            failureThreshold: 6
          readinessProbe:
            exec: {command: [/usr/bin/check-status, -r]}
            periodSeconds: 10""",
)


def test_under_emulation_the_kube_controllers_probes_run_scale_times_less_often():
    """calico-kube-controllers runs on the control plane and both its probes are
    execs of check-status every 10 s: under emulation as patient as calico-node's."""
    assert "check-status, -r" in PROBED
    upstream = kube_controllers(fit(PROBED, config()))
    assert upstream["readinessProbe"] == {
        "exec": {"command": ["/usr/bin/check-status", "-r"]},
        "periodSeconds": 10,
    }
    assert "startupProbe" not in upstream
    slow = kube_controllers(fit(PROBED, config(), scale=4))
    assert slow["readinessProbe"]["periodSeconds"] == 40
    assert slow["readinessProbe"]["timeoutSeconds"] == 4
    assert slow["livenessProbe"]["periodSeconds"] == 40
    assert slow["livenessProbe"]["timeoutSeconds"] == 40
    assert slow["startupProbe"]["exec"] == {"command": ["/usr/bin/check-status", "-l"]}
