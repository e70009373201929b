"""Values the add-on manifests are rendered from: images, sizes, ports."""

from __future__ import annotations

from provision.config.model import ClusterConfig

# Upstream image of each pinned component: (repository, tag format).
UPSTREAM_IMAGES = {
    "elasticsearch": ("docker.elastic.co/elasticsearch/elasticsearch", "{v}"),
    "logstash": ("docker.elastic.co/logstash/logstash", "{v}"),
    "kibana": ("docker.elastic.co/kibana/kibana", "{v}"),
    "filebeat": ("docker.elastic.co/beats/filebeat", "{v}"),
    "rabbitmq": ("docker.io/library/rabbitmq", "{v}-management"),
    "zipkin": ("docker.io/openzipkin/zipkin", "{v}"),
    "mysql": ("docker.io/library/mysql", "{v}"),
    "nfs_provisioner": ("registry.k8s.io/sig-storage/nfs-subdir-external-provisioner", "v{v}"),
}

# Browser access for lab users (the seed's NodePorts).
NODE_PORTS = {
    "kibana": 30005,
    "rabbitmq_amqp": 30003,
    "rabbitmq_management": 30004,
    "zipkin": 30008,
}


def web_urls(host: str) -> dict[str, str]:
    """The add-ons' web UIs on a node's address: what up's report and status print."""
    return {
        "kibana": f"http://{host}:{NODE_PORTS['kibana']}/",
        "rabbitmq": f"http://{host}:{NODE_PORTS['rabbitmq_management']}/",
        "zipkin": f"http://{host}:{NODE_PORTS['zipkin']}/zipkin/",
    }


def image(config: ClusterConfig, component: str) -> str:
    """Image reference for a component: addons.images if it names one, otherwise the
    pinned upstream image, honouring registry.mirror."""
    if component in config.addons.images:
        return config.addons.images[component]
    repo, tag = UPSTREAM_IMAGES[component]
    version = getattr(config.versions, component)
    mirror = config.registry.mirror.rstrip("/")
    if mirror:
        repo = f"{mirror}/{repo.split('/', 1)[1]}"
    return f"{repo}:{tag.format(v=version)}"
