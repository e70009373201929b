"""Values the add-on manifests are rendered from: images, sizes, ports."""

from __future__ import annotations

from provision.addons.registry import node_ports, upstream_images
from provision.config.model import ClusterConfig

# Upstream image of each pinned component: (repository, tag format), as each
# add-on's folder declares it.
UPSTREAM_IMAGES = upstream_images()

# Browser access for lab users (the seed's NodePorts), as each add-on declares them.
NODE_PORTS = node_ports()


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
