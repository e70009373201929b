"""The cluster config: one typed model, read from inventories/<name>/cluster.yml.

Types and allowed values live here; checks across fields live in checks.py.
Every field carries a description: it feeds `provision schema` and error hints.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
VERSION = r"^[0-9]+\.[0-9]+\.[0-9]+$"
SQL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,31}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def version(what: str) -> str:
    return Field(pattern=VERSION, description=f"{what} version, as X.Y.Z (no leading v)")


class Cluster(Strict):
    name: str = Field(pattern=DNS_LABEL, description="cluster name: lower-case letters, digits, -")


class SshAccess(Strict):
    user: str = Field(min_length=1, description="login user on every existing host")
    private_key: str = Field(min_length=1, description="path of the SSH private key")
    known_hosts: str = Field(
        min_length=1,
        description="known_hosts file that pins every host's key (never auto-accepted)",
    )
    port: int = Field(22, ge=1, le=65535, description="SSH port")


class Machines(Strict):
    kind: Literal["vagrant", "ssh"] = Field(
        "vagrant", description="vagrant: machines made by Vagrant; ssh: existing hosts"
    )
    provider: Literal["auto", "virtualbox", "libvirt", "docker"] = Field(
        "auto", description="Vagrant provider; auto = virtualbox or libvirt if present, else docker"
    )
    box: str = Field("debian/bookworm64", description="Vagrant box for virtualbox and libvirt")
    ssh: SshAccess | None = Field(None, description="how to reach existing hosts (kind: ssh)")


class Node(Strict):
    name: str = Field(pattern=DNS_LABEL, description="node name: lower-case letters, digits, -")
    role: Literal["control-plane", "worker"] = Field(description="control-plane or worker")
    cpus: int = Field(2, ge=1, le=64, description="virtual CPUs")
    memory_mb: int = Field(2048, ge=1024, le=262144, description="memory in MiB (at least 1024)")
    ip: IPv4Address = Field(description="private IP on the node network; becomes the node IP")
    address: str | None = Field(
        None, description="SSH address of an existing host (kind: ssh); default: ip"
    )


class Network(Strict):
    node_subnet: IPv4Network = Field(description="private network of the nodes, CIDR")
    pod_cidr: IPv4Network = Field(description="pod network, CIDR (Calico IP pool)")
    service_cidr: IPv4Network = Field(description="service network, CIDR, at most /12")
    encapsulation: Literal["vxlan", "ipip", "none"] = Field(
        "vxlan", description="Calico encapsulation: vxlan, ipip or none"
    )
    allow_untested_calico: bool = Field(
        False,
        description="run a Calico release that is not tested with the pinned Kubernetes minor "
        "(say why in a comment)",
    )
    docker_bridge: IPv4Network = Field(
        IPv4Network("172.17.0.0/16"), description="Docker's default bridge on the nodes, CIDR"
    )


class Versions(Strict):
    kubernetes: str = version("Kubernetes (kubeadm, kubelet, kubectl, control plane)")
    containerd: str = version("containerd")
    docker: str = version("Docker Engine")
    # cri-dockerd (the kubelet's CRI shim for Docker Engine): 0.3.17 is the newest 0.3 patch
    # release the Go module proxy here serves (0.3.15/16/18/19/20 are refused); it speaks
    # CRI v1 and negotiates the Docker API down to bookworm's docker.io 20.10 (API 1.41).
    cri_dockerd: str = version("cri-dockerd")
    calico: str = version("Calico")
    elasticsearch: str = version("Elasticsearch")
    logstash: str = version("Logstash")
    kibana: str = version("Kibana")
    filebeat: str = version("Filebeat")
    rabbitmq: str = version("RabbitMQ")
    zipkin: str = version("Zipkin")
    mysql: str = version("MySQL")
    nfs_provisioner: str = version("nfs-subdir-external-provisioner")


class Elk(Strict):
    enabled: bool = True
    elasticsearch_heap_mb: int = Field(
        1024, ge=256, le=32768, description="Elasticsearch heap, MiB"
    )
    storage_gb: int = Field(5, ge=1, description="Elasticsearch volume size, GiB")
    shipper: Literal["filebeat", "rsyslog"] = Field(
        "filebeat",
        description="the log shipper DaemonSet: filebeat (Filebeat to Logstash to "
        "Elasticsearch, the upstream path) or rsyslog (Debian's rsyslog straight to "
        "Elasticsearch; needs addons.images.rsyslog, e.g. the image `provision bundle "
        "build` makes)",
    )


class RabbitMQ(Strict):
    enabled: bool = True
    storage_gb: int = Field(1, ge=1, description="RabbitMQ volume size, GiB")


class Zipkin(Strict):
    enabled: bool = True
    storage: Literal["memory", "elasticsearch"] = Field(
        "memory", description="span storage: memory or elasticsearch (needs elk)"
    )


class MySQL(Strict):
    enabled: bool = True
    storage_gb: int = Field(2, ge=1, description="MySQL volume size, GiB")
    database: str = Field("app", pattern=SQL_NAME, description="application database name")
    user: str = Field("app", pattern=SQL_NAME, description="application user name")
    timezone: str = Field("UTC", min_length=1, description="server time zone, e.g. UTC")


class Nfs(Strict):
    enabled: bool = True
    server_node: str | None = Field(
        None, description="node that runs the NFS server; default: the control-plane node"
    )
    export_path: str = Field("/srv/nfs", pattern=r"^/", description="exported directory (absolute)")


ADDONS = ("elk", "rabbitmq", "zipkin", "mysql", "nfs")
# ELK is four parts, each its own manifest, each may be validate_only on its own.
ELK_PARTS = ("elasticsearch", "logstash", "kibana", "shipper")
# Every part, one manifest each, in apply order (the other add-ons are one part each).
PARTS = ("nfs", "mysql", "rabbitmq", "zipkin", *ELK_PARTS)
ValidateOnly = Literal[
    "elk", "rabbitmq", "zipkin", "mysql", "nfs", "elasticsearch", "logstash", "kibana", "shipper"
]


def addon_of_part(part: str) -> str:
    return "elk" if part in ELK_PARTS else part


# Components whose image the add-on manifests run (addons.images may replace each).
IMAGE_COMPONENTS = (
    "elasticsearch",
    "logstash",
    "kibana",
    "filebeat",
    "rsyslog",
    "rabbitmq",
    "zipkin",
    "mysql",
    "nfs_provisioner",
)


class Addons(Strict):
    elk: Elk = Elk()
    rabbitmq: RabbitMQ = RabbitMQ()
    zipkin: Zipkin = Zipkin()
    mysql: MySQL = MySQL()
    nfs: Nfs = Nfs()
    volumes: Literal["nfs", "local"] = Field(
        "nfs",
        description="where the add-ons' claims live: nfs (StorageClass `nfs` of the NFS add-on) "
        "or local (one directory per claim on a worker, StorageClass `local`: for nodes that "
        "cannot mount NFS; the data stays on that worker)",
    )
    validate_only: list[ValidateOnly] = Field(
        default_factory=list,
        description="enabled add-ons, or parts of ELK (elasticsearch, logstash, kibana, "
        "shipper), whose objects the API server only checks (server-side dry run) and that "
        "are not created: for labs that cannot run them (no image, no kernel support)",
    )
    images: dict[str, str] = Field(
        default_factory=dict,
        description="image reference per component, replacing the pinned upstream image "
        f"(e.g. images built for an air-gapped lab); components: {', '.join(IMAGE_COMPONENTS)}",
        json_schema_extra={"propertyNames": {"enum": list(IMAGE_COMPONENTS)}},
    )

    @field_validator("images")
    @classmethod
    def _known_components(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [
            f"'{name}' is not an add-on component (known: {', '.join(IMAGE_COMPONENTS)})"
            for name in value
            if name not in IMAGE_COMPONENTS
        ]
        bad += [f"{name}: empty image reference" for name, ref in value.items() if not ref.strip()]
        if bad:
            raise ValueError("; ".join(bad))
        return value

    def enabled(self) -> list[str]:
        return [name for name in ADDONS if getattr(self, name).enabled]

    def parts(self) -> list[str]:
        """The parts of the enabled add-ons, in apply order."""
        enabled = self.enabled()
        return [p for p in PARTS if addon_of_part(p) in enabled]

    def validated_only(self) -> list[str]:
        """The parts only checked by a dry run (validate_only, elk meaning all its parts)."""
        listed = {
            p for name in self.validate_only for p in (ELK_PARTS if name == "elk" else [name])
        }
        return [p for p in self.parts() if p in listed]

    def deployed(self) -> list[str]:
        """The parts that are created (enabled, not validate_only)."""
        validated = self.validated_only()
        return [p for p in self.parts() if p not in validated]


class Runtime(Strict):
    cri: Literal["containerd", "docker"] = Field(
        "containerd",
        description="the kubelet's one CRI: containerd (its CRI plugin; Docker runs beside "
        "it) or docker (Docker Engine through cri-dockerd; containerd's CRI plugin is off)",
    )
    docker_source: Literal["auto", "upstream", "distribution"] = Field(
        "auto",
        description="Docker Engine from Docker's apt repository (upstream) or the "
        "distribution's docker.io; auto: upstream unless artifacts come from a bundle",
    )


FETCHED = ("kubeadm", "kubelet", "kubectl", "calico.yaml")  # what `bundle fetch` downloads
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Artifacts(Strict):
    source: Literal["auto", "online", "bundle"] = Field(
        "auto",
        description="online: upstream downloads; bundle: an offline bundle directory; "
        "auto: the bundle when bundle_dir holds one, else online",
    )
    bundle_dir: str = Field(
        "~/.cache/provision/bundle", min_length=1, description="offline bundle directory"
    )
    release_url: str = Field(
        "https://dl.k8s.io/release",
        pattern=r"^https?://[^/\s]+",
        description="Kubernetes release downloads, http(s) URL: "
        "{release_url}/v{version}/bin/linux/{arch}/{kubeadm,kubelet,kubectl}",
    )
    calico_url: str = Field(
        "https://raw.githubusercontent.com/projectcalico/calico",
        pattern=r"^https?://[^/\s]+",
        description="Calico's source tree by tag, http(s) URL: "
        "{calico_url}/v{version}/manifests/calico.yaml",
    )
    checksums: dict[str, str] = Field(
        default_factory=dict,
        description="sha256 (64 lower-case hex digits) of kubeadm, kubelet, kubectl or "
        "calico.yaml for the pinned versions; adds to or overrides provision/bundle/checksums.py",
        json_schema_extra={
            "propertyNames": {"enum": list(FETCHED)},
            "additionalProperties": {"type": "string", "pattern": SHA256.pattern},
        },
    )

    @field_validator("checksums")
    @classmethod
    def _sha256_each(cls, value: dict[str, str]) -> dict[str, str]:
        bad = []
        for name, digest in value.items():
            if name not in FETCHED:
                bad.append(f"'{name}' is not a downloaded artifact (known: {', '.join(FETCHED)})")
            elif not SHA256.fullmatch(digest):
                case = ", write it in lower case" if SHA256.fullmatch(digest.lower()) else ""
                bad.append(f"{name}: {digest!r} is not a sha256 (64 lower-case hex digits{case})")
        if bad:
            raise ValueError("; ".join(bad))
        return value


class Registry(Strict):
    mirror: str = Field("", description="image registry that replaces upstream ones (air-gapped)")


class ClusterConfig(Strict):
    """inventories/<name>/cluster.yml"""

    cluster: Cluster
    machines: Machines = Machines()
    nodes: list[Node] = Field(min_length=1, description="every machine of the cluster")
    network: Network
    versions: Versions
    runtime: Runtime = Runtime()
    addons: Addons = Addons()
    artifacts: Artifacts = Artifacts()
    registry: Registry = Registry()

    @property
    def control_plane(self) -> Node:
        return next(n for n in self.nodes if n.role == "control-plane")

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "worker"]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
