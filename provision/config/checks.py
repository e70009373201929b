"""Checks across fields of a well-typed ClusterConfig.

Each check returns Problems with the exact field path; load.py adds line numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from provision.config import compat
from provision.config.model import ClusterConfig, addon_of_part
from provision.errors import Problem


def check(config: ClusterConfig) -> list[Problem]:
    problems: list[Problem] = []
    for rule in RULES:
        problems.extend(rule(config))
    return problems


def _names(c: ClusterConfig) -> Iterator[Problem]:
    """Node names are unique."""
    seen: dict[str, int] = {}
    for i, node in enumerate(c.nodes):
        if node.name in seen:
            yield Problem(
                f"nodes[{i}].name",
                f"node name '{node.name}' is used twice (also nodes[{seen[node.name]}])",
                "give every node its own name",
            )
        seen.setdefault(node.name, i)


def _addresses(c: ClusterConfig) -> Iterator[Problem]:
    """Node IPs are unique and lie inside `network.node_subnet`: not its network or
    broadcast address, nor its first address (the host's)."""
    subnet = c.network.node_subnet
    seen: dict[str, int] = {}
    for i, node in enumerate(c.nodes):
        path = f"nodes[{i}].ip"
        if str(node.ip) in seen:
            yield Problem(
                path,
                f"IP {node.ip} is used twice (also nodes[{seen[str(node.ip)]}])",
                "give every node its own IP",
            )
        seen.setdefault(str(node.ip), i)
        if node.ip not in subnet:
            yield Problem(
                path,
                f"IP {node.ip} is outside network.node_subnet {subnet}",
                f"pick an address inside {subnet}, or change network.node_subnet",
            )
        elif node.ip in (subnet.network_address, subnet.broadcast_address):
            yield Problem(
                path,
                f"IP {node.ip} is the network or broadcast address of {subnet}",
                "pick a host address",
            )
        elif subnet.num_addresses > 2 and node.ip == subnet.network_address + 1:
            yield Problem(
                path,
                f"IP {node.ip} is the first address of {subnet}, which the "
                "hypervisor gives to the host",
                "start node addresses at .10",
            )


def _ranges(c: ClusterConfig) -> Iterator[Problem]:
    """`network.node_subnet`, `pod_cidr`, `service_cidr` and `docker_bridge` do not
    overlap, and the pod CIDR holds a /24 per node."""
    net = c.network
    ranges: list[tuple[str, IPv4Network]] = [
        ("network.node_subnet", net.node_subnet),
        ("network.pod_cidr", net.pod_cidr),
        ("network.service_cidr", net.service_cidr),
        ("network.docker_bridge", net.docker_bridge),
    ]
    for i, (a_path, a) in enumerate(ranges):
        for b_path, b in ranges[i + 1 :]:
            if a.overlaps(b):
                yield Problem(b_path, f"{b} overlaps {a_path} {a}", _overlap_fix(b_path))
    # kubeadm turns on the controller manager's node CIDR allocation (/24 per node).
    per_node = 2 ** (24 - net.pod_cidr.prefixlen)
    if per_node < len(c.nodes):
        yield Problem(
            "network.pod_cidr",
            f"{net.pod_cidr} is too small for {len(c.nodes)} nodes: it holds {per_node} "
            "node ranges (/24 each)",
            "use a larger range, e.g. 10.244.0.0/16",
        )


def _overlap_fix(path: str) -> str:
    return {
        "network.pod_cidr": "pick a pod CIDR apart from the other ranges, e.g. 10.244.0.0/16",
        "network.service_cidr": "pick a service CIDR apart from the other ranges, e.g. "
        "10.96.0.0/16",
        "network.docker_bridge": "move the node, pod or service range away from Docker's bridge",
    }.get(path, "make the ranges disjoint")


def _roles(c: ClusterConfig) -> Iterator[Problem]:
    """Exactly one node has `role: control-plane`."""
    planes = [i for i, n in enumerate(c.nodes) if n.role == "control-plane"]
    if not planes:
        yield Problem(
            "nodes", "no node has role control-plane", "give exactly one node 'role: control-plane'"
        )
    for i in planes[1:]:
        yield Problem(
            f"nodes[{i}].role",
            "more than one control-plane node is not supported yet",
            "keep one control-plane node; make the others workers",
        )


def _versions(c: ClusterConfig) -> Iterator[Problem]:
    """`versions.kubernetes` is a minor provision knows, and `versions.calico` a Calico
    release tested with it (or `network.allow_untested_calico: true`)."""
    k8s = compat.minor(c.versions.kubernetes)
    if k8s not in compat.KUBERNETES_EOL:
        known = ", ".join(compat.KUBERNETES_EOL)
        yield Problem(
            "versions.kubernetes",
            f"Kubernetes {k8s} is not a minor this tool knows",
            f"use one of {known}",
        )
        return
    calico = compat.minor(c.versions.calico)
    tested = compat.CALICO.get(calico)
    if tested is None:
        yield Problem(
            "versions.calico",
            f"Calico {calico} is not a minor this tool knows",
            f"use one of {', '.join(compat.CALICO)}",
        )
    elif k8s not in tested and not c.network.allow_untested_calico:
        fits = [cal for cal, k8s_minors in compat.CALICO.items() if k8s in k8s_minors]
        yield Problem(
            "versions.calico",
            f"Calico {c.versions.calico} is not tested with "
            f"Kubernetes {c.versions.kubernetes} (it covers {', '.join(tested)})",
            f"use Calico {' or '.join(fits) or 'of another minor'} with Kubernetes {k8s}, "
            "or set network.allow_untested_calico: true",
        )


def _addons(c: ClusterConfig) -> Iterator[Problem]:
    """`addons.nfs.server_node` names a node; claims on NFS (`addons.volumes: nfs`) need
    the NFS add-on deployed; `addons.validate_only` names parts of enabled add-ons only;
    `addons.elk.shipper: rsyslog` needs `addons.images.rsyslog`; `addons.zipkin.storage:
    elasticsearch` needs ELK."""
    a = c.addons
    names = {n.name for n in c.nodes}
    # checked when NFS is off too: the name is still rendered and handed to playbooks
    if a.nfs.server_node is not None and a.nfs.server_node not in names:
        yield Problem(
            "addons.nfs.server_node",
            f"no node is named '{a.nfs.server_node}'",
            f"use one of {', '.join(sorted(names))}",
        )
    stateful = {"elasticsearch", "rabbitmq", "mysql"} & set(a.deployed())
    if a.volumes == "nfs" and stateful and "nfs" not in a.deployed():
        yield Problem(
            "addons.volumes",
            "claims use the NFS StorageClass, but the NFS add-on is disabled or validate_only",
            "enable addons.nfs (not validate_only), or set addons.volumes: local",
        )
    for name in a.validate_only:
        addon = addon_of_part(name)
        if addon not in a.enabled():
            yield Problem(
                "addons.validate_only",
                f"{name} is listed but addons.{addon} is disabled",
                f"enable addons.{addon}, or remove {name} from validate_only",
            )
    if a.elk.enabled and a.elk.shipper == "rsyslog" and "rsyslog" not in a.images:
        yield Problem(
            "addons.elk.shipper",
            "rsyslog has no pinned upstream image",
            "set addons.images.rsyslog (`provision bundle build` makes "
            "provision.local/addons/rsyslog:8.2302), or use shipper: filebeat",
        )
    if a.zipkin.enabled and a.zipkin.storage == "elasticsearch" and not a.elk.enabled:
        yield Problem(
            "addons.zipkin.storage",
            "Zipkin stores spans in Elasticsearch, but addons.elk is disabled",
            "enable addons.elk or use storage: memory",
        )


def _memory(c: ClusterConfig) -> Iterator[Problem]:
    """The workers' memory, less what each node keeps for itself, covers the add-ons
    that run; Elasticsearch's heap fits in a quarter of the largest worker."""
    workers = c.workers
    if not workers:
        return
    need = compat.addon_memory_mb(c.addons, len(workers))
    have = sum(n.memory_mb - compat.NODE_RESERVED_MB["worker"] for n in workers)
    if sum(need.values()) > have:
        detail = ", ".join(f"{k} {v}" for k, v in need.items())
        yield Problem(
            "nodes",
            f"the workers leave {have} MiB for add-ons, which need "
            f"{sum(need.values())} MiB ({detail})",
            "raise memory_mb of the workers, add a worker, or disable an add-on",
        )
    largest = max(n.memory_mb for n in workers)
    if c.addons.elk.enabled and 2 * c.addons.elk.elasticsearch_heap_mb > largest // 2:
        yield Problem(
            "addons.elk.elasticsearch_heap_mb",
            f"a heap of "
            f"{c.addons.elk.elasticsearch_heap_mb} MiB does not fit in a quarter of the "
            f"largest worker ({largest} MiB)",
            "lower the heap or give a worker more memory",
        )


def _machines(c: ClusterConfig) -> Iterator[Problem]:
    """`machines.ssh` is given for `machines.kind: ssh` and only then; `nodes[].address`
    only for existing hosts."""
    m = c.machines
    if m.kind == "ssh" and m.ssh is None:
        yield Problem(
            "machines.ssh",
            "existing hosts need SSH settings",
            "add machines.ssh with user, private_key and known_hosts",
        )
    if m.kind == "vagrant" and m.ssh is not None:
        yield Problem(
            "machines.ssh",
            "SSH settings are for kind: ssh",
            "remove machines.ssh, or set machines.kind: ssh",
        )
    if m.kind == "vagrant":
        for i, node in enumerate(c.nodes):
            if node.address is not None:
                yield Problem(
                    f"nodes[{i}].address",
                    "address is for existing hosts (kind: ssh)",
                    "remove it: Vagrant machines are reached through Vagrant",
                )


# The rules across fields, in the order their problems are reported; each one's
# docstring is its line in docs/config.md (provision/config/reference.py).
RULES = (_names, _addresses, _ranges, _roles, _versions, _addons, _memory, _machines)
