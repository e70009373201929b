"""The add-on manifests, rendered from the cluster config (Jinja2 templates in
provision/templates/addons/). One file per add-on, applied in this order:

    common.yaml         namespace
    local-storage.yaml  StorageClass local and one volume per claim (volumes: local)
    nfs.yaml            the NFS provisioner and StorageClass nfs (default class when
                        volumes: nfs)
    mysql.yaml, rabbitmq.yaml, zipkin.yaml
    elasticsearch.yaml, logstash.yaml, kibana.yaml, shipper.yaml   (ELK's parts)

(the enabled ones). A part the config marks validate_only is only dry-run.

secrets.yaml holds the generated credentials and is rendered apart (see
secrets.py): it is written only 0600 into the lab's state directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment

from provision.addons.registry import ADDONS
from provision.addons.values import NODE_PORTS, UPSTREAM_IMAGES, image
from provision.config.model import PARTS, ClusterConfig
from provision.shared import ADDONS_NAMESPACE
from provision.templates import Quoted, Token, environment

NAMESPACE = ADDONS_NAMESPACE  # provision/shared_defaults.yml, as the roles have it
CLUSTER_DOMAIN = "cluster.local"
NFS_PROVISIONER_NAME = "provision.io/nfs"
LOCAL_CLASS = "local"
LOCAL_ROOT = "/var/lib/provision/volumes"
PART_OF = "provision-addons"


@dataclass(frozen=True)
class LocalVolume:
    claim: str  # the PVC a StatefulSet makes: <template>-<set>-0
    size_gb: int
    node: str  # local: the node that holds it; nfs: the NFS server node
    path: str  # local: on that node; nfs: on the export


def _claims(config: ClusterConfig) -> list[tuple[str, int]]:
    """(claim, size in GiB) of each stateful add-on, by name, then the claim
    `provision verify` uses."""
    enabled = config.addons.enabled()
    wanted = sorted(c for a in ADDONS if a.name in enabled for c in a.claims(config))
    return [*wanted, ("provision-verify", 1)]


def local_volumes(config: ClusterConfig) -> list[LocalVolume]:
    """One volume per stateful add-on, all on the second worker (the first when
    there is one): the other workers hold no data, so they can be replaced or reset
    freely. Adding workers never moves a volume (a volume's node cannot change)."""
    workers = [n.name for n in config.workers] or [config.control_plane.name]
    data_node = workers[1] if len(workers) > 1 else workers[0]
    return [
        LocalVolume(
            c, size, workers[0] if c == "provision-verify" else data_node, f"{LOCAL_ROOT}/{c}"
        )
        for c, size in _claims(config)
    ]


def nfs_volumes(config: ClusterConfig) -> list[LocalVolume]:
    """With addons.nfs.provisioner static (and volumes: nfs): one directory per claim
    on the export, served by the NFS server node; none otherwise."""
    a = config.addons
    if not (a.nfs.enabled and a.volumes == "nfs" and a.nfs.provisioner == "static"):
        return []
    export = a.nfs.export_path.rstrip("/")
    return [LocalVolume(c, s, config.nfs_server, f"{export}/{c}") for c, s in _claims(config)]


def _labels(name: str) -> Quoted:
    """The labels of an add-on object, as a YAML flow mapping (`name` is a constant of
    the templates, checked as a token)."""
    return Quoted(
        f"{{app.kubernetes.io/name: {Token(name)}, app.kubernetes.io/part-of: {PART_OF}, "
        "app.kubernetes.io/managed-by: provision}"
    )


def _selector(name: str) -> Quoted:
    return Quoted(f"{{app.kubernetes.io/name: {Token(name)}}}")


def _env() -> Environment:
    """Templates in provision/templates/addons; config strings reach them only through
    the `yaml` filter (see provision/templates)."""
    env = environment("templates/addons", *(f"addons/{a.name}" for a in ADDONS))
    env.globals.update(labels=_labels, selector=_selector)
    return env


def context(config: ClusterConfig, source: str = "cluster.yml") -> dict:
    a = config.addons
    nfs_node = config.nfs_server
    return {
        "source": source,
        "cluster_name": config.cluster.name,
        "namespace": Token(NAMESPACE),
        "cluster_domain": Token(CLUSTER_DOMAIN),
        "enabled": a.enabled(),
        "images": {name: image(config, name) for name in UPSTREAM_IMAGES}
        | {"rsyslog": a.images.get("rsyslog", "")},
        "node_ports": NODE_PORTS,
        "volumes": a.volumes,
        "storage_class": Token("nfs" if a.volumes == "nfs" else LOCAL_CLASS),
        "local_volumes": local_volumes(config) if a.volumes == "local" else [],
        "nfs_provisioner_name": Token(NFS_PROVISIONER_NAME),
        "nfs": {
            "server_node": nfs_node,
            "server_ip": config.node(nfs_node).ip,
            "export_path": a.nfs.export_path,
            "provisioner": a.nfs.provisioner,
            "volumes": nfs_volumes(config),
        },
        "elk": a.elk,
        "rabbitmq": a.rabbitmq,
        "zipkin": a.zipkin,
        "mysql": a.mysql,
    }


def render_manifests(config: ClusterConfig, source: str = "cluster.yml") -> dict[str, str]:
    """{file name: YAML} for every manifest to apply, in apply order."""
    env = _env()
    ctx = context(config, source)
    files = {"common.yaml": env.get_template("common.yaml.j2").render(ctx)}
    if config.addons.volumes == "local":
        files["local-storage.yaml"] = env.get_template("local-storage.yaml.j2").render(ctx)
    for part in config.addons.parts():
        files[f"{part}.yaml"] = env.get_template(f"{part}.yaml.j2").render(ctx)
    return files


def part_of(file_name: str) -> str | None:
    """The add-on part a manifest file holds (None: shared by all)."""
    name = file_name.removesuffix(".yaml")
    return name if name in PARTS else None


def render_secrets(config: ClusterConfig, secrets: dict[str, str]) -> str:
    return _env().get_template("secrets.yaml.j2").render({**context(config), "secrets": secrets})
