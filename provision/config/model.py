"""The cluster config: one typed model, read from inventories/<name>/cluster.yml.

Types and allowed values live here; checks across fields live in checks.py.
Every field carries a description: it feeds `provision schema` and error hints.

Nothing is coerced: a number is never read from a string, a boolean never from a
number (`cpus: yes` is an error, not 1), an address never from an integer. Every
string is checked by what it is (kinds.py): names, addresses, networks, paths,
image references, URLs, time zones, SQL identifiers.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
)
from pydantic_core import PydanticCustomError

from provision.config import kinds

DNS_LABEL = kinds.DNS_LABEL.pattern
VERSION = r"^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(value: object) -> object:
    """Addresses and networks are written as text: an integer is not an address."""
    if not isinstance(value, str | IPv4Address | IPv4Network):
        raise PydanticCustomError(
            "address_text", "write the address as text, e.g. 192.168.56.10 or 10.244.0.0/16"
        )
    return value


Name = Annotated[StrictStr, AfterValidator(kinds.dns_label)]
HostIP = Annotated[IPv4Address, BeforeValidator(_text), AfterValidator(kinds.host_ip)]


Net = Annotated[IPv4Network, BeforeValidator(_text)]


def prefix(low: int, high: int, why: str) -> AfterValidator:
    """With Net: a usable network whose prefix length is between /low and /high."""
    return AfterValidator(kinds.network(low, high, why))


ImageRef = Annotated[StrictStr, AfterValidator(kinds.image_ref)]


MAX_NODES = 64
# A lab's volume lives on one worker's disk (local) or the NFS server's: 1 TiB at most.
MAX_VOLUME_GB = 1024


def version(what: str):
    return Field(pattern=VERSION, description=f"{what} version, as X.Y.Z (no leading v)")


class Cluster(Strict):
    name: Name = Field(description="cluster name: lower-case letters, digits, - (a DNS label)")


class SshAccess(Strict):
    user: Annotated[StrictStr, AfterValidator(kinds.posix_user)] = Field(
        description="login user on every existing host (a POSIX user name)"
    )
    private_key: Annotated[StrictStr, AfterValidator(kinds.file_path)] = Field(
        min_length=1, description="path of the SSH private key"
    )
    known_hosts: Annotated[StrictStr, AfterValidator(kinds.file_path)] = Field(
        min_length=1,
        description="known_hosts file that pins every host's key (never auto-accepted)",
    )
    port: StrictInt = Field(22, ge=1, le=65535, description="SSH port")


class Machines(Strict):
    kind: Literal["vagrant", "ssh"] = Field(
        "vagrant", description="vagrant: machines made by Vagrant; ssh: existing hosts"
    )
    provider: Literal["auto", "virtualbox", "libvirt", "docker"] = Field(
        "auto",
        description="Vagrant provider; auto = virtualbox or libvirt where VMs run at hardware "
        "speed (KVM works), else docker",
    )
    box: Annotated[StrictStr, AfterValidator(kinds.vagrant_box)] = Field(
        "debian/bookworm64", description="Vagrant box for virtualbox and libvirt"
    )
    ssh: SshAccess | None = Field(None, description="how to reach existing hosts (kind: ssh)")
    boot_timeout_s: StrictInt | None = Field(
        None,
        ge=1,
        le=7200,
        description="seconds Vagrant waits for each VM to answer SSH once it has an address; "
        "default: the provider's (libvirt 300 with KVM, 900 under emulation; VirtualBox 300)",
    )

    @property
    def made_here(self) -> bool:
        """provision makes these machines (Vagrant), rather than reaching existing hosts."""
        return self.kind == "vagrant"


class Node(Strict):
    name: Name = Field(description="node name: lower-case letters, digits, - (a DNS label)")
    role: Literal["control-plane", "worker"] = Field(description="control-plane or worker")
    cpus: StrictInt = Field(2, ge=1, le=64, description="virtual CPUs")
    memory_mb: StrictInt = Field(
        2048, ge=1024, le=262144, description="memory in MiB (at least 1024)"
    )
    ip: HostIP = Field(description="private IP on the node network; becomes the node IP")
    address: Annotated[StrictStr, AfterValidator(kinds.ssh_address)] | None = Field(
        None,
        description="SSH address of an existing host (kind: ssh), an IP or a DNS name; default: ip",
    )


class Network(Strict):
    node_subnet: Annotated[Net, prefix(8, 29, "a /29 holds the host and five nodes")] = Field(
        description="private network of the nodes, CIDR, /8 to /29"
    )
    # Calico hands each node /26 blocks, and kubeadm turns on the controller manager's
    # node CIDR allocation with /24 per node: smaller than /24 is too small.
    pod_cidr: Annotated[
        Net, prefix(8, 24, "smaller than /24 is too small: each node takes a /24")
    ] = Field(description="pod network, CIDR (Calico IP pool), /8 to /24")
    # The API server refuses a service range larger than /12 (20 bits); kubeadm gives
    # CoreDNS the 10th address, and the API server keeps a static band of at least 16
    # addresses at the start: below /24 the add-ons' services crowd what is left.
    service_cidr: Annotated[
        Net, prefix(12, 24, "the API server accepts at most /12; below /24 too few remain")
    ] = Field(description="service network, CIDR, /12 to /24")
    # The network phase deploys Calico's VXLAN manifest: IPIP and no encapsulation
    # need its BGP manifest, which provision does not deploy.
    encapsulation: Literal["vxlan"] = Field(
        "vxlan", description="Calico encapsulation: vxlan (the one the network phase deploys)"
    )
    allow_untested_calico: StrictBool = Field(
        False,
        description="run a Calico release that is not tested with the pinned Kubernetes minor "
        "(say why in a comment)",
    )
    docker_bridge: Annotated[
        Net, prefix(8, 28, "Docker's bridge needs room for its containers")
    ] = Field(
        IPv4Network("172.17.0.0/16"), description="Docker's default bridge on the nodes, CIDR"
    )


class Versions(Strict):
    kubernetes: StrictStr = version("Kubernetes (kubeadm, kubelet, kubectl, control plane)")
    containerd: StrictStr = version("containerd")
    docker: StrictStr = version("Docker Engine")
    # cri-dockerd (the kubelet's CRI shim for Docker Engine): a release that speaks CRI v1
    # and negotiates the Docker API down to the nodes' Docker (bookworm's docker.io 20.10
    # speaks API 1.41). docs/playbooks.md says why the default lab pins its version.
    cri_dockerd: StrictStr = version("cri-dockerd")
    calico: StrictStr = version("Calico")
    elasticsearch: StrictStr = version("Elasticsearch")
    logstash: StrictStr = version("Logstash")
    kibana: StrictStr = version("Kibana")
    filebeat: StrictStr = version("Filebeat")
    rabbitmq: StrictStr = version("RabbitMQ")
    zipkin: StrictStr = version("Zipkin")
    mysql: StrictStr = version("MySQL")
    nfs_provisioner: StrictStr = version("nfs-subdir-external-provisioner")


class Elk(Strict):
    enabled: StrictBool = True
    elasticsearch_heap_mb: StrictInt = Field(
        1024, ge=256, le=32768, description="Elasticsearch heap, MiB"
    )
    storage_gb: StrictInt = Field(
        5, ge=1, le=MAX_VOLUME_GB, description="Elasticsearch volume size, GiB"
    )
    shipper: Literal["filebeat", "rsyslog"] = Field(
        "filebeat",
        description="the log shipper DaemonSet: filebeat (Filebeat to Logstash to "
        "Elasticsearch, the upstream path) or rsyslog (Debian's rsyslog straight to "
        "Elasticsearch; needs addons.images.rsyslog, e.g. the image `provision bundle "
        "build` makes)",
    )


class RabbitMQ(Strict):
    enabled: StrictBool = True
    storage_gb: StrictInt = Field(
        1, ge=1, le=MAX_VOLUME_GB, description="RabbitMQ volume size, GiB"
    )


class Zipkin(Strict):
    enabled: StrictBool = True
    storage: Literal["memory", "elasticsearch"] = Field(
        "memory", description="span storage: memory or elasticsearch (needs elk)"
    )


class MySQL(Strict):
    enabled: StrictBool = True
    storage_gb: StrictInt = Field(2, ge=1, le=MAX_VOLUME_GB, description="MySQL volume size, GiB")
    database: Annotated[StrictStr, AfterValidator(kinds.sql_database)] = Field(
        "app", description="application database name (not a system schema)"
    )
    user: Annotated[StrictStr, AfterValidator(kinds.sql_user)] = Field(
        "app", description="application user name (not root)"
    )
    timezone: Annotated[StrictStr, AfterValidator(kinds.time_zone)] = Field(
        "UTC", description="server time zone from the tz database, e.g. UTC or Europe/Berlin"
    )


class Nfs(Strict):
    enabled: StrictBool = True
    server_node: Name | None = Field(
        None, description="node that runs the NFS server; default: the control-plane node"
    )
    export_path: Annotated[StrictStr, AfterValidator(kinds.node_dir)] = Field(
        "/srv/nfs",
        description="exported directory on the server node: absolute, normalized, not a "
        "system directory (it is made 0777 and exported read-write)",
    )
    provisioner: Literal["dynamic", "static"] = Field(
        "dynamic",
        description="how claims of StorageClass nfs get volumes: dynamic (the "
        "nfs-subdir-external-provisioner image makes a directory per claim) or static "
        "(provision makes one directory per add-on claim on the export and a "
        "PersistentVolume bound to that claim: for labs that cannot get the image)",
    )


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
        max_length=len(PARTS) + 1,
        description="enabled add-ons, or parts of ELK (elasticsearch, logstash, kibana, "
        "shipper), whose objects the API server only checks (server-side dry run) and that "
        "are not created: for labs that cannot run them (no image, no kernel support)",
    )
    images: dict[StrictStr, ImageRef] = Field(
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
    bundle_dir: Annotated[StrictStr, AfterValidator(kinds.host_dir)] = Field(
        "~/.cache/provision/bundle",
        description="offline bundle directory: absolute or under ~/, not a home or system "
        "directory (bundle build and fetch replace it as a whole)",
    )
    release_url: Annotated[StrictStr, AfterValidator(kinds.download_url)] = Field(
        "https://dl.k8s.io/release",
        description="Kubernetes release downloads, https URL without credentials: "
        "{release_url}/v{version}/bin/linux/{arch}/{kubeadm,kubelet,kubectl}",
    )
    calico_url: Annotated[StrictStr, AfterValidator(kinds.download_url)] = Field(
        "https://raw.githubusercontent.com/projectcalico/calico",
        description="Calico's source tree by tag, https URL without credentials: "
        "{calico_url}/v{version}/manifests/calico.yaml",
    )
    mount_bundle: StrictBool = Field(
        True,
        description="docker provider: mount the bundle read-only in every node, where the "
        "roles install and import from it; false: copy each file over SSH, as to a VM",
    )
    checksums: dict[StrictStr, StrictStr] = Field(
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
    mirror: Annotated[StrictStr, AfterValidator(kinds.registry_mirror)] = Field(
        "",
        description="image registry that replaces upstream ones (air-gapped): "
        "host[:port][/path], reached over https, no credentials; empty: upstream",
    )


class ClusterConfig(Strict):
    """inventories/<name>/cluster.yml"""

    cluster: Cluster
    machines: Machines = Machines()
    nodes: list[Node] = Field(
        min_length=1, max_length=MAX_NODES, description="every machine of the cluster"
    )
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
    def nfs_server(self) -> str:
        """The node that serves the NFS export: addons.nfs.server_node, else the
        control plane (a name the config checks refuse falls back to it too)."""
        wanted = self.addons.nfs.server_node
        if wanted is not None and any(n.name == wanted for n in self.nodes):
            return wanted
        return self.control_plane.name

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "worker"]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
