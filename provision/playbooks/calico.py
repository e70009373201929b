"""Calico's manifest, made to fit the cluster config before the network phase applies it.

The manifest itself is Calico's own release manifest, carried by the offline bundle
(`manifests/calico.yaml`), never stored in git. This module sets what the config
decides: the IP pool (the pod CIDR), the encapsulation, node address
autodetection on the private network, and the registry override.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from provision.config.model import ClusterConfig
from provision.errors import BundleError
from provision.files import read_small, refuse, write_state

# The bundle's Calico manifest (its CRDs included): well under this.
MANIFEST_MAX = 16 << 20

# The pool's (ipipMode, vxlanMode) by network.encapsulation.
POOL_MODES = {"vxlan": ("Never", "Always")}
API_PORT = 6443  # kubeadm-config.yaml.j2's bindPort
# Calico's pods read this ConfigMap (envFrom, optional) to reach the API server
# directly instead of through the `kubernetes` Service. On a node that has just
# joined, kube-proxy may not yet have written the Service's rules when install-cni
# starts: its first call then hangs for 30 s and the container is restarted, and
# the node is Ready 30 s late (measured on w2 of the default lab).
ENDPOINT_CONFIGMAP = "kubernetes-services-endpoint"
KUBE_CONTROLLERS = "calico-kube-controllers"


class CalicoManifestError(BundleError):
    """The bundle's Calico manifest lacks what the network phase rewrites."""


READY_PERIOD_S = 3
# How long calico-node may take to start at hardware speed, before wait_scale: the
# startup probe's budget (a probe every STARTUP_PERIOD_S).
STARTUP_S = 300
STARTUP_PERIOD_S = 10


def set_env(container: dict, name: str, value: str) -> None:
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            item.pop("valueFrom", None)
            item["value"] = value
            return
    env.append({"name": name, "value": value})


def read_endpoint_from_configmap(container: dict) -> None:
    """The container takes KUBERNETES_SERVICE_HOST/PORT from ENDPOINT_CONFIGMAP."""
    sources = container.setdefault("envFrom", [])
    if not any((s.get("configMapRef") or {}).get("name") == ENDPOINT_CONFIGMAP for s in sources):
        sources.append({"configMapRef": {"name": ENDPOINT_CONFIGMAP, "optional": True}})


def rewrite_image(image: str, mirror: str) -> str:
    if not mirror:
        return image
    first, _, rest = image.partition("/")
    path = rest if ("." in first or ":" in first) and rest else image
    return f"{mirror.rstrip('/')}/{path}"


def be_patient(main: dict, scale: int) -> None:
    """A Calico container's probes (calico-node's, calico-kube-controllers') on
    machines `scale` times slower (VMs under software emulation): Felix then takes
    minutes to start, and the liveness probe (6 failures 10 s apart) restarted it
    before it ever ran (measured on the VM lab: every calico-node in
    CrashLoopBackOff). A startup probe (the liveness check, up to STARTUP_S times
    `scale`) holds the liveness probe off until Felix is live once, and each probe's
    timeout grows `scale` times.
    Each probe is an exec of the calico-node binary: under emulation one took more
    than 30 s of a saturated CPU, and the readiness probe every READY_PERIOD_S kept
    several running at once on the control plane (measured 2026-12-04, its load
    above 25 while the API server stopped answering). So each probe runs `scale`
    times less often than upstream's: the startup probe keeps its budget (STARTUP_S
    times `scale`), the others the same number of failures, `scale` times further
    apart. calico-kube-controllers' two probes are execs too (`check-status`, each
    every 10 s), and it runs on the control plane: the same holds for them."""
    if scale <= 1:
        return
    for name in ("livenessProbe", "readinessProbe"):
        if name in main:
            probe = main[name]
            probe["timeoutSeconds"] = probe.get("timeoutSeconds", 1) * scale
            probe["periodSeconds"] = probe.get("periodSeconds", 10) * scale
    live = main.get("livenessProbe")
    if live and "exec" in live:
        main["startupProbe"] = {
            "exec": live["exec"],
            "periodSeconds": STARTUP_PERIOD_S * scale,
            "timeoutSeconds": live["timeoutSeconds"],
            "failureThreshold": STARTUP_S // STARTUP_PERIOD_S,
        }


def fit(
    manifest_text: str, config: ClusterConfig, source: str = "calico.yaml", scale: int = 1
) -> str:
    """Calico's manifest with the config's pool, encapsulation, autodetection, images,
    and probes `scale` times more patient (wait_scale)."""
    net = config.network
    ipip, vxlan = POOL_MODES[net.encapsulation]
    docs = [d for d in yaml.safe_load_all(manifest_text) if d]
    node = next(
        (
            d
            for d in docs
            if d.get("kind") == "DaemonSet" and d["metadata"]["name"] == "calico-node"
        ),
        None,
    )
    if node is None:
        raise CalicoManifestError(
            f"{source}: no calico-node DaemonSet\n"
            "  fix: rebuild the bundle (`provision bundle build`)"
        )
    spec = node["spec"]["template"]["spec"]
    main = next(c for c in spec["containers"] if c["name"] == "calico-node")
    set_env(main, "CALICO_IPV4POOL_CIDR", str(net.pod_cidr))
    set_env(main, "CALICO_IPV4POOL_IPIP", ipip)
    set_env(main, "CALICO_IPV4POOL_VXLAN", vxlan)
    set_env(main, "IP_AUTODETECTION_METHOD", f"cidr={net.node_subnet}")
    for c in spec.get("initContainers", []) + spec["containers"]:
        if c["name"] in ("install-cni", "calico-node"):
            read_endpoint_from_configmap(c)
    # The readiness of a node's Calico is seen within READY_PERIOD_S of it, not
    # within 10 s: join waits for it on every node (the check is one exec). Not under
    # emulation, where each exec is costly (be_patient).
    if "readinessProbe" in main and scale <= 1:
        main["readinessProbe"]["periodSeconds"] = READY_PERIOD_S
    be_patient(main, scale)
    for doc in docs:
        if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == KUBE_CONTROLLERS:
            for c in doc["spec"]["template"]["spec"]["containers"]:
                be_patient(c, scale)
    docs = [d for d in docs if d["metadata"].get("name") != ENDPOINT_CONFIGMAP]
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": ENDPOINT_CONFIGMAP, "namespace": "kube-system"},
            "data": {
                "KUBERNETES_SERVICE_HOST": str(config.control_plane.ip),
                "KUBERNETES_SERVICE_PORT": str(API_PORT),
            },
        }
    )
    mirror = config.registry.mirror
    for doc in docs:
        pod = (doc.get("spec") or {}).get("template", {}).get("spec")
        for c in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            c["image"] = rewrite_image(c["image"], mirror)
    header = (
        f"# Calico from {source}, fitted by provision to {config.cluster.name}: pool "
        f"{net.pod_cidr}, {net.encapsulation}, autodetection cidr={net.node_subnet}, "
        f"API server {config.control_plane.ip}:{API_PORT}\n"
    )
    return header + yaml.safe_dump_all(docs, sort_keys=False)


def images(manifest_text: str) -> set[str]:
    found: set[str] = set()
    for doc in yaml.safe_load_all(manifest_text):
        pod = ((doc or {}).get("spec") or {}).get("template", {}).get("spec") or {}
        found.update(c["image"] for c in pod.get("containers", []) + pod.get("initContainers", []))
    return found


def fitted_manifest(config: ClusterConfig, bundle: Path, out: Path, scale: int = 1) -> Path:
    source = bundle / "manifests" / "calico.yaml"
    fix = "run `provision bundle build` (or `provision bundle fetch`)"
    raw = read_small(source, "the bundle's Calico manifest", fix, MANIFEST_MAX, CalicoManifestError)
    if raw is None:
        raise CalicoManifestError(f"no Calico manifest in the bundle ({source})\n  fix: {fix}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise refuse(
            source,
            "the bundle's Calico manifest",
            f"not UTF-8 (byte {e.start})",
            fix,
            CalicoManifestError,
        ) from None
    write_state(out, fit(text, config, str(source), scale))
    return out
