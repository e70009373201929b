"""Malformed configs: each must exit 2 and name the field path that is wrong."""

import pytest
from click.testing import CliRunner

from provision.cli import cli


def node(d, i):
    return d["nodes"][i]


def setp(path, value):
    """A mutation that sets a dotted path (list indexes as ints)."""

    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        d[last] = value

    return mutate


def delp(path):
    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        del d[last]

    return mutate


def both(*mutations):
    def mutate(d):
        for m in mutations:
            m(d)

    return mutate


def rename_all_roles(d):
    for n in d["nodes"]:
        n["role"] = "worker"


CASES = [
    # (id, mutation, field path expected in the message, words expected)
    (
        "pod-overlaps-nodes",
        setp(("network", "pod_cidr"), "192.168.0.0/16"),
        "network.pod_cidr",
        "overlaps network.node_subnet",
    ),
    (
        "service-overlaps-pods",
        setp(("network", "service_cidr"), "10.244.0.0/16"),
        "network.service_cidr",
        "overlaps network.pod_cidr",
    ),
    (
        "pod-overlaps-docker-bridge",
        setp(("network", "pod_cidr"), "172.16.0.0/12"),
        "network.docker_bridge",
        "overlaps network.pod_cidr",
    ),
    (
        "service-too-large",
        setp(("network", "service_cidr"), "10.0.0.0/8"),
        "network.service_cidr",
        "at most /12",
    ),
    (
        "pod-cidr-too-small",
        setp(("network", "pod_cidr"), "10.244.0.0/26"),
        "network.pod_cidr",
        "too small",
    ),
    ("cidr-host-bits", setp(("network", "pod_cidr"), "10.244.0.1/16"), "network.pod_cidr", "CIDR"),
    ("cidr-garbage", setp(("network", "node_subnet"), "lab-net"), "network.node_subnet", "CIDR"),
    ("duplicate-ip", setp(("nodes", 2, "ip"), "192.168.56.11"), "nodes[2].ip", "used twice"),
    ("duplicate-name", setp(("nodes", 2, "name"), "w1"), "nodes[2].name", "used twice"),
    (
        "ip-outside-subnet",
        setp(("nodes", 1, "ip"), "192.168.57.11"),
        "nodes[1].ip",
        "outside network.node_subnet",
    ),
    (
        "ip-is-network-address",
        setp(("nodes", 1, "ip"), "192.168.56.0"),
        "nodes[1].ip",
        "network or broadcast",
    ),
    (
        "ip-is-host-gateway",
        setp(("nodes", 1, "ip"), "192.168.56.1"),
        "nodes[1].ip",
        "gives to the host",
    ),
    ("ip-not-an-ip", setp(("nodes", 0, "ip"), "192.168.56.300"), "nodes[0].ip", "IPv4"),
    ("no-control-plane", rename_all_roles, "nodes", "no node has role control-plane"),
    (
        "two-control-planes",
        setp(("nodes", 2, "role"), "control-plane"),
        "nodes[2].role",
        "not supported yet",
    ),
    ("unknown-role", setp(("nodes", 1, "role"), "master"), "nodes[1].role", "worker"),
    (
        "unknown-addon",
        setp(("addons", "kafka"), {"enabled": True}),
        "addons.kafka",
        "unknown add-on",
    ),
    ("unknown-top-level", setp(("cluster_name",), "lab"), "cluster_name", "unknown field"),
    (
        "unknown-node-field",
        setp(("nodes", 0, "memory"), 4096),
        "nodes[0].memory",
        "known here: name, role, cpus, memory_mb",
    ),
    (
        "bad-calico-pair",
        both(
            setp(("versions", "calico"), "3.29.4"),
            setp(("network", "allow_untested_calico"), False),
        ),
        "versions.calico",
        "not tested with Kubernetes",
    ),
    (
        "unknown-kubernetes-minor",
        setp(("versions", "kubernetes"), "1.20.0"),
        "versions.kubernetes",
        "not a minor this tool knows",
    ),
    ("version-with-v", setp(("versions", "kubernetes"), "v1.35.4"), "versions.kubernetes", "X.Y.Z"),
    ("version-missing", delp(("versions", "calico")), "versions.calico", "missing"),
    ("cpus-wrong-type", setp(("nodes", 0, "cpus"), "two"), "nodes[0].cpus", "whole number"),
    ("cpus-zero", setp(("nodes", 0, "cpus"), 0), "nodes[0].cpus", "greater than or equal"),
    (
        "memory-too-small",
        setp(("nodes", 1, "memory_mb"), 512),
        "nodes[1].memory_mb",
        "greater than or equal",
    ),
    (
        "memory-short-for-addons",
        both(setp(("nodes", 1, "memory_mb"), 1100), setp(("nodes", 2, "memory_mb"), 1100)),
        "nodes",
        "need",
    ),
    (
        "heap-too-large",
        setp(("addons", "elk", "elasticsearch_heap_mb"), 4096),
        "addons.elk.elasticsearch_heap_mb",
        "quarter",
    ),
    (
        "enabled-not-bool",
        setp(("addons", "mysql", "enabled"), "perhaps"),
        "addons.mysql.enabled",
        "true or false",
    ),
    (
        "nfs-unknown-node",
        setp(("addons", "nfs", "server_node"), "nfs1"),
        "addons.nfs.server_node",
        "no node is named",
    ),
    (
        "zipkin-es-without-elk",
        both(
            setp(("addons", "zipkin", "storage"), "elasticsearch"),
            setp(("addons", "elk", "enabled"), False),
        ),
        "addons.zipkin.storage",
        "addons.elk is disabled",
    ),
    ("bad-provider", setp(("machines", "provider"), "vmware"), "machines.provider", "docker"),
    ("ssh-without-settings", setp(("machines", "kind"), "ssh"), "machines.ssh", "user"),
    # The network phase deploys Calico's VXLAN manifest only: validate refuses the
    # rest rather than the network phase after five phases have run.
    ("ipip", setp(("network", "encapsulation"), "ipip"), "network.encapsulation", "vxlan"),
    (
        "no-encapsulation",
        setp(("network", "encapsulation"), "none"),
        "network.encapsulation",
        "vxlan",
    ),
    (
        "bad-encapsulation",
        setp(("network", "encapsulation"), "gre"),
        "network.encapsulation",
        "vxlan",
    ),
    ("bad-cluster-name", setp(("cluster", "name"), "My_Lab"), "cluster.name", "lower-case"),
    ("nodes-empty", setp(("nodes",), []), "nodes", "at least 1"),
    ("nodes-not-a-list", setp(("nodes",), {"cp1": {}}), "nodes", "list"),
    ("missing-network", delp(("network",)), "network", "missing"),
    ("bad-artifact-source", setp(("artifacts", "source"), "ftp"), "artifacts.source", "bundle"),
    (
        "checksum-not-hex",
        setp(("artifacts", "checksums"), {"kubeadm": "not-a-checksum"}),
        "artifacts.checksums",
        "kubeadm: 'not-a-checksum' is not a sha256 (64 lower-case hex digits)",
    ),
    (
        "checksum-too-short",
        setp(("artifacts", "checksums"), {"kubelet": "a" * 63}),
        "artifacts.checksums",
        "kubelet: ",
    ),
    (
        "checksum-upper-case",
        setp(("artifacts", "checksums"), {"kubectl": "AB" * 32}),
        "artifacts.checksums",
        "write it in lower case",
    ),
    (
        "checksum-with-prefix",
        setp(("artifacts", "checksums"), {"calico.yaml": "sha256:" + "ab" * 32}),
        "artifacts.checksums",
        "calico.yaml: 'sha256:",
    ),
    (
        "checksum-unknown-artifact",
        setp(("artifacts", "checksums"), {"kubeadmm": "ab" * 32}),
        "artifacts.checksums",
        "known: kubeadm, kubelet, kubectl, calico.yaml",
    ),
    (
        "checksum-not-a-string",
        setp(("artifacts", "checksums"), {"kubeadm": 12345}),
        "artifacts.checksums.kubeadm",
        "quote it",
    ),
    (
        "checksums-not-a-mapping",
        setp(("artifacts", "checksums"), ["ab" * 32]),
        "artifacts.checksums",
        "mapping",
    ),
    (
        "release-url-without-scheme",
        setp(("artifacts", "release_url"), "dl.k8s.io/release"),
        "artifacts.release_url",
        "https URL",
    ),
    (
        "calico-url-not-http",
        setp(("artifacts", "calico_url"), "ftp://example.org/calico"),
        "artifacts.calico_url",
        "https URL",
    ),
    (
        "unknown-artifacts-field",
        setp(("artifacts", "checksum"), {}),
        "artifacts.checksum",
        "known here: source, bundle_dir, release_url, calico_url, mount_bundle, checksums",
    ),
    (
        "bad-sql-user",
        setp(("addons", "mysql", "user"), "app-user"),
        "addons.mysql.user",
        "SQL name",
    ),
    (
        "address-on-vagrant",
        setp(("nodes", 0, "address"), "10.1.1.1"),
        "nodes[0].address",
        "existing hosts",
    ),
]


def run_validate(path):
    return CliRunner().invoke(cli, ["validate", "-i", str(path)])


@pytest.mark.parametrize(
    ("mutate", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_config_is_refused(lab, write_config, mutate, path, words):
    mutate(lab)
    result = run_validate(write_config(lab))
    assert result.exit_code == 2, result.output
    assert f": {path}: " in result.output, result.output
    assert words in result.output
    assert "fix: " in result.output


@pytest.mark.parametrize(
    ("text", "path", "words", "line"),
    [
        ("cluster:\n  name: [lab\n", "(top level)", "YAML syntax error", 3),
        ("cluster:\n\tname: lab\n", "(top level)", "YAML syntax error", 2),
        ("- just\n- a list\n", "(top level)", "must be a YAML mapping", 1),
        ("cluster:\n  name: a\ncluster:\n  name: b\n", "cluster", "appears twice", 3),
    ],
    ids=["unclosed-bracket", "tab-indent", "not-a-mapping", "duplicate-key"],
)
def test_broken_yaml_names_the_line(write_config, text, path, words, line):
    result = run_validate(write_config(text))
    assert result.exit_code == 2
    assert f"cluster.yml:{line}: {path}: " in result.output, result.output
    assert words in result.output


def test_error_names_the_line_of_the_field(lab, write_config):
    lab["nodes"][1]["ip"] = "10.9.9.9"
    path = write_config(lab)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "10.9.9.9" in text)
    result = run_validate(path)
    assert f"cluster.yml:{line}: nodes[1].ip: " in result.output


def test_every_problem_is_reported_at_once(lab, write_config):
    lab["nodes"][1]["ip"] = "192.168.57.11"
    lab["network"]["pod_cidr"] = "192.168.0.0/16"
    result = run_validate(write_config(lab))
    assert "2 problems" in result.output
    assert "nodes[1].ip" in result.output and "network.pod_cidr" in result.output


def test_missing_file_is_a_config_error(tmp_path):
    result = run_validate(tmp_path / "nope" / "cluster.yml")
    assert result.exit_code == 2
    assert "file not found" in result.output
