"""Facts about versions and sizes that the checks rely on (from upstream docs).

Kept apart from the pinned versions themselves (those live in the cluster
config's one `versions` table) so a user changes a pin, never this file.
"""

from __future__ import annotations

# Kubernetes minors this tool knows, with upstream's end-of-life date
# (kubernetes.io/releases). Image versions (etcd, CoreDNS, pause) are not kept
# here: they come from `kubeadm config images list` for the pinned release.
KUBERNETES_EOL: dict[str, str] = {
    "1.33": "2026-06-28",
    "1.34": "2026-10-27",
    "1.35": "2027-02-28",
    "1.36": "2027-06-28",
}

# The sandbox (pause) image kubeadm expects at each minor; containerd must use
# the same one (`kubeadm config images list`).
PAUSE: dict[str, str] = {"1.33": "3.10", "1.34": "3.10.1", "1.35": "3.10.1", "1.36": "3.10.1"}

# Calico minor -> Kubernetes minors it is tested on (Calico "system requirements").
CALICO: dict[str, tuple[str, ...]] = {
    "3.28": ("1.27", "1.28", "1.29", "1.30"),
    "3.29": ("1.29", "1.30", "1.31", "1.32"),
    "3.30": ("1.30", "1.31", "1.32", "1.33", "1.34"),
    "3.31": ("1.32", "1.33", "1.34", "1.35"),
}

# Memory (MiB) the system itself needs on a node before any add-on runs:
# OS, kubelet, containerd, kube-proxy, calico-node; the control plane adds
# etcd, the API server, controller-manager, scheduler and CoreDNS.
NODE_RESERVED_MB = {"control-plane": 1536, "worker": 768}


SHIPPER_MB = {"filebeat": 200, "rsyslog": 128}


def addon_memory_mb(addons, workers: int) -> dict[str, int]:
    """Memory (MiB) each deployed add-on part requests in total, across the workers
    (validate_only parts are never created: they take none). `validate` and `doctor`
    both count this."""
    need: dict[str, int] = {}
    if addons.elk.enabled:
        # Elasticsearch container = heap + as much again off-heap; one log shipper
        # per worker.
        need["elasticsearch"] = 2 * addons.elk.elasticsearch_heap_mb
        need["logstash"] = 1024
        need["kibana"] = 768
        need["shipper"] = SHIPPER_MB[addons.elk.shipper] * workers
    if addons.rabbitmq.enabled:
        need["rabbitmq"] = 512
    if addons.zipkin.enabled:
        need["zipkin"] = 512
    if addons.mysql.enabled:
        need["mysql"] = 512
    if addons.nfs.enabled:
        need["nfs"] = 64
    deployed = addons.deployed()
    return {part: mb for part, mb in need.items() if part in deployed}


def minor(version: str) -> str:
    major, minor_, *_ = version.split(".")
    return f"{major}.{minor_}"
