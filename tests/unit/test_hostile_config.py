"""Hostile and malformed cluster configs: each kind is refused with exit 2, the file,
the line, the field and a fix, and nothing is written.

Kinds: paths we act on, strings that reach generated files, SSH addresses and
users, silent coercion, values that mean something wrong, and YAML or files built
to hang, exhaust or crash the loader.
"""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from provision.cli import cli
from tests.unit.test_config_errors import both, setp

SSH = {"user": "vagrant", "private_key": "/keys/lab", "known_hosts": "/keys/known_hosts"}


def ssh_with(**changes):
    return both(setp(("machines", "kind"), "ssh"), setp(("machines", "ssh"), {**SSH, **changes}))


def nfs_off_naming(node):
    def mutate(d):
        d["addons"]["nfs"] = {"enabled": False, "server_node": node}
        d["addons"]["validate_only"] = ["logstash", "kibana"]

    return mutate


def many_nodes(count):
    def mutate(d):
        d["network"]["node_subnet"] = "10.10.0.0/16"
        d["nodes"] = [
            {"name": f"n{i}", "role": "worker", "ip": f"10.10.{i // 200}.{10 + i % 200}"}
            for i in range(count)
        ]
        d["nodes"][0]["role"] = "control-plane"

    return mutate


BUNDLE = ("artifacts", "bundle_dir")
EXPORT = ("addons", "nfs", "export_path")
TZ = ("addons", "mysql", "timezone")
IMAGE = ("addons", "images", "mysql")
MIRROR = ("registry", "mirror")
RELEASE = ("artifacts", "release_url")

# (id, mutation, field path in the message, words in the message)
CASES = [
    # --- paths we replace, delete, export or chmod ---------------------------------
    ("bundle-home-tilde", setp(BUNDLE, "~"), "artifacts.bundle_dir", "home directory"),
    ("bundle-home-slash", setp(BUNDLE, "~/"), "artifacts.bundle_dir", "home directory"),
    ("bundle-root", setp(BUNDLE, "/"), "artifacts.bundle_dir", "root directory"),
    ("bundle-etc", setp(BUNDLE, "/etc"), "artifacts.bundle_dir", "system directory"),
    ("bundle-in-usr", setp(BUNDLE, "/usr/lib/bundle"), "artifacts.bundle_dir", "system"),
    ("bundle-usr-local", setp(BUNDLE, "/usr/local"), "artifacts.bundle_dir", "system"),
    ("bundle-home-dir", setp(BUNDLE, "/home/alice"), "artifacts.bundle_dir", "home directory"),
    ("bundle-homes", setp(BUNDLE, "/home"), "artifacts.bundle_dir", "shared system"),
    ("bundle-var", setp(BUNDLE, "/var"), "artifacts.bundle_dir", "shared system"),
    ("bundle-tmp", setp(BUNDLE, "/tmp"), "artifacts.bundle_dir", "shared system"),
    ("bundle-proc", setp(BUNDLE, "/proc/self"), "artifacts.bundle_dir", "system directory"),
    ("bundle-relative", setp(BUNDLE, "bundle"), "artifacts.bundle_dir", "absolute"),
    ("bundle-other-user", setp(BUNDLE, "~alice/b"), "artifacts.bundle_dir", "'~/'"),
    ("bundle-dotdot", setp(BUNDLE, "/srv/../etc"), "artifacts.bundle_dir", "normalized"),
    ("bundle-trailing", setp(BUNDLE, "/srv/bundle/"), "artifacts.bundle_dir", "normalized"),
    ("bundle-double", setp(BUNDLE, "/srv//bundle"), "artifacts.bundle_dir", "normalized"),
    ("bundle-space", setp(BUNDLE, "/srv/my bundle"), "artifacts.bundle_dir", "no spaces"),
    ("bundle-newline", setp(BUNDLE, "/srv/b\nx"), "artifacts.bundle_dir", "control"),
    ("bundle-empty", setp(BUNDLE, ""), "artifacts.bundle_dir", "absolute"),
    ("bundle-number", setp(BUNDLE, 42), "artifacts.bundle_dir", "valid string"),
    ("export-root", setp(EXPORT, "/"), "addons.nfs.export_path", "root directory"),
    ("export-dotdot", setp(EXPORT, "/srv/../etc"), "addons.nfs.export_path", "normalized"),
    ("export-etc", setp(EXPORT, "/etc/exports.d"), "addons.nfs.export_path", "system"),
    ("export-relative", setp(EXPORT, "srv/nfs"), "addons.nfs.export_path", "absolute"),
    ("export-quote", setp(EXPORT, "/srv/nfs'; reboot; '"), "addons.nfs.export_path", "quotes"),
    ("export-semicolon", setp(EXPORT, "/srv/nfs;id"), "addons.nfs.export_path", "shell"),
    ("export-subst", setp(EXPORT, "/srv/$(id)"), "addons.nfs.export_path", "shell"),
    ("export-newline", setp(EXPORT, "/srv/nfs\n*(rw)"), "addons.nfs.export_path", "control"),
    ("export-var-lib", setp(EXPORT, "/var/lib"), "addons.nfs.export_path", "shared"),
    ("export-kubelet", setp(EXPORT, "/var/lib/kubelet/x"), "addons.nfs.export_path", "system"),
    ("export-root-home", setp(EXPORT, "/root/nfs"), "addons.nfs.export_path", "system"),
    ("export-home", setp(EXPORT, "/home/alice"), "addons.nfs.export_path", "home directory"),
    ("export-sys", setp(EXPORT, "/sys/fs/nfs"), "addons.nfs.export_path", "system"),
    # --- strings that reach generated files ----------------------------------------
    ("tz-newline", setp(TZ, "UTC\nMYSQL_ROOT_HOST: '%'"), "addons.mysql.timezone", "tz database"),
    ("tz-unknown", setp(TZ, "Mars/Olympus_Mons"), "addons.mysql.timezone", "tz database"),
    ("tz-path", setp(TZ, "../../etc/passwd"), "addons.mysql.timezone", "tz database"),
    ("tz-empty", setp(TZ, ""), "addons.mysql.timezone", "tz database"),
    ("tz-number", setp(TZ, 0), "addons.mysql.timezone", "valid string"),
    ("image-newline", setp(IMAGE, "x:1\n  command: [sh]"), "addons.images.mysql", "image ref"),
    ("image-upper", setp(IMAGE, "Provision/MySQL:8"), "addons.images.mysql", "image ref"),
    ("image-untagged", setp(IMAGE, "provision.local/mysql"), "addons.images.mysql", "tag"),
    ("image-space", setp(IMAGE, "a b:1"), "addons.images.mysql", "image ref"),
    ("image-option", setp(IMAGE, "-x:1"), "addons.images.mysql", "image ref"),
    ("image-url", setp(IMAGE, "https://r.lab/m:1"), "addons.images.mysql", "image ref"),
    ("image-quote", setp(IMAGE, 'm:1"'), "addons.images.mysql", "image ref"),
    ("mirror-http", setp(MIRROR, "http://mirror.lab"), "registry.mirror", "https"),
    ("mirror-credentials", setp(MIRROR, "https://u:p@mirror.lab"), "registry.mirror", "cred"),
    ("mirror-bare-creds", setp(MIRROR, "u:p@mirror.lab:5000"), "registry.mirror", "cred"),
    ("mirror-newline", setp(MIRROR, "mirror.lab\nx: y"), "registry.mirror", "registry"),
    ("mirror-quote", setp(MIRROR, 'mirror.lab/"q'), "registry.mirror", "registry"),
    ("mirror-ftp", setp(MIRROR, "ftp://mirror.lab"), "registry.mirror", "https"),
    ("mirror-query", setp(MIRROR, "https://mirror.lab/?x=1"), "registry.mirror", "query"),
    ("release-http", setp(RELEASE, "http://dl.k8s.io/release"), "artifacts.release_url", "https"),
    ("release-creds", setp(RELEASE, "https://u:p@dl.k8s.io/"), "artifacts.release_url", "cred"),
    ("release-newline", setp(RELEASE, "https://dl.k8s.io/\nx"), "artifacts.release_url", "space"),
    ("release-js", setp(RELEASE, "javascript:alert(1)"), "artifacts.release_url", "https"),
    ("release-no-host", setp(RELEASE, "https://"), "artifacts.release_url", "https"),
    ("release-bad-port", setp(RELEASE, "https://h:99999/"), "artifacts.release_url", "URL"),
    ("box-injection", setp(("machines", "box"), "x'; system('id')"), "machines.box", "box"),
    # --- SSH ---------------------------------------------------------------------------
    (
        "address-option",
        setp(("nodes", 0, "address"), "-oProxyCommand=touch /tmp/x"),
        "nodes[0].address",
        "DNS name",
    ),
    (
        "address-scope-id-option",
        setp(("nodes", 0, "address"), "fe80::1%eth0 -oProxyCommand=id"),
        "nodes[0].address",
        "scope id",
    ),
    ("address-semicolon", setp(("nodes", 0, "address"), "h;id"), "nodes[0].address", "DNS"),
    ("address-subst", setp(("nodes", 0, "address"), "$(id)"), "nodes[0].address", "DNS"),
    ("address-space", setp(("nodes", 0, "address"), "a b"), "nodes[0].address", "DNS"),
    ("address-loopback", setp(("nodes", 0, "address"), "127.0.0.1"), "nodes[0].address", "reach"),
    ("address-any", setp(("nodes", 0, "address"), "0.0.0.0"), "nodes[0].address", "reach"),
    ("address-localhost", setp(("nodes", 0, "address"), "localhost"), "nodes[0].address", "this"),
    ("ssh-user-option", ssh_with(user="-oProxyCommand=x"), "machines.ssh.user", "POSIX"),
    ("ssh-user-shell", ssh_with(user="root;id"), "machines.ssh.user", "POSIX"),
    ("ssh-user-long", ssh_with(user="a" * 40), "machines.ssh.user", "POSIX"),
    ("ssh-key-option", ssh_with(private_key="-oX"), "machines.ssh.private_key", "'-'"),
    ("ssh-key-shell", ssh_with(private_key="/k/$(id)"), "machines.ssh.private_key", "shell"),
    ("ssh-hosts-newline", ssh_with(known_hosts="/k\nx"), "machines.ssh.known_hosts", "control"),
    ("ssh-port-string", ssh_with(port="22"), "machines.ssh.port", "valid integer"),
    # --- silent coercion -----------------------------------------------------------------
    ("cpus-yes", setp(("nodes", 0, "cpus"), True), "nodes[0].cpus", "valid integer"),
    ("cpus-string", setp(("nodes", 0, "cpus"), "2"), "nodes[0].cpus", "valid integer"),
    ("cpus-float", setp(("nodes", 0, "cpus"), 2.0), "nodes[0].cpus", "valid integer"),
    ("memory-string", setp(("nodes", 0, "memory_mb"), "4096"), "nodes[0].memory_mb", "integer"),
    ("ip-integer", setp(("nodes", 0, "ip"), 3232249866), "nodes[0].ip", "as text"),
    ("cidr-integer", setp(("network", "pod_cidr"), 167772160), "network.pod_cidr", "as text"),
    ("enabled-string", setp(("addons", "zipkin", "enabled"), "yes"), "addons.zipkin.enabled", "bo"),
    (
        "flag-number",
        setp(("network", "allow_untested_calico"), 1),
        "network.allow_untested_calico",
        "valid boolean",
    ),
    (
        "storage-bool",
        setp(("addons", "mysql", "storage_gb"), True),
        "addons.mysql.storage_gb",
        "in",
    ),
    ("version-float", setp(("versions", "mysql"), 8.4), "versions.mysql", "valid string"),
    # --- meaning -------------------------------------------------------------------------
    ("node-localhost", setp(("nodes", 0, "name"), "localhost"), "nodes[0].name", "reserved"),
    ("cluster-localhost", setp(("cluster", "name"), "localhost"), "cluster.name", "reserved"),
    (
        "subnet-loopback",
        setp(("network", "node_subnet"), "127.0.0.0/24"),
        "network.node_subnet",
        "loopback",
    ),
    (
        "subnet-multicast",
        setp(("network", "node_subnet"), "224.0.0.0/24"),
        "network.node_subnet",
        "multicast",
    ),
    (
        "subnet-link-local",
        setp(("network", "node_subnet"), "169.254.0.0/16"),
        "network.node_subnet",
        "link-local",
    ),
    (
        "subnet-any",
        setp(("network", "node_subnet"), "0.0.0.0/24"),
        "network.node_subnet",
        "unspecified",
    ),
    (
        "subnet-reserved",
        setp(("network", "node_subnet"), "240.0.0.0/24"),
        "network.node_subnet",
        "reserved",
    ),
    (
        "subnet-tiny",
        setp(("network", "node_subnet"), "192.168.56.8/30"),
        "network.node_subnet",
        "/29",
    ),
    (
        "pods-loopback",
        setp(("network", "pod_cidr"), "127.0.0.0/16"),
        "network.pod_cidr",
        "loopback",
    ),
    (
        "pods-for-one-node",
        setp(("network", "pod_cidr"), "10.244.0.0/24"),
        "network.pod_cidr",
        "too small for 3",
    ),
    (
        "service-29",
        setp(("network", "service_cidr"), "10.96.0.0/29"),
        "network.service_cidr",
        "/24",
    ),
    (
        "service-32",
        setp(("network", "service_cidr"), "10.96.0.0/32"),
        "network.service_cidr",
        "/24",
    ),
    ("service-11", setp(("network", "service_cidr"), "10.0.0.0/11"), "network.service_cidr", "/12"),
    (
        "service-multicast",
        setp(("network", "service_cidr"), "224.0.0.0/16"),
        "network.service_cidr",
        "multicast",
    ),
    ("node-ip-multicast", setp(("nodes", 1, "ip"), "224.0.0.1"), "nodes[1].ip", "multicast"),
    (
        "storage-huge",
        setp(("addons", "mysql", "storage_gb"), 10**9),
        "addons.mysql.storage_gb",
        "1024",
    ),
    ("storage-zero", setp(("addons", "elk", "storage_gb"), 0), "addons.elk.storage_gb", "greater"),
    (
        "heap-negative",
        setp(("addons", "elk", "elasticsearch_heap_mb"), -1),
        "addons.elk.elasticsearch_heap_mb",
        "greater",
    ),
    ("memory-huge", setp(("nodes", 0, "memory_mb"), 10**12), "nodes[0].memory_mb", "less"),
    ("cpus-huge", setp(("nodes", 0, "cpus"), 1000), "nodes[0].cpus", "less"),
    ("too-many-nodes", many_nodes(65), "nodes", "at most 64"),
    (
        "mysql-user-root",
        setp(("addons", "mysql", "user"), "root"),
        "addons.mysql.user",
        "administrative",
    ),
    (
        "mysql-user-ROOT",
        setp(("addons", "mysql", "user"), "ROOT"),
        "addons.mysql.user",
        "administrative",
    ),
    (
        "mysql-db-mysql",
        setp(("addons", "mysql", "database"), "mysql"),
        "addons.mysql.database",
        "system schema",
    ),
    (
        "mysql-db-is",
        setp(("addons", "mysql", "database"), "information_schema"),
        "addons.mysql.database",
        "system schema",
    ),
    (
        "mysql-db-ps",
        setp(("addons", "mysql", "database"), "Performance_Schema"),
        "addons.mysql.database",
        "system schema",
    ),
    (
        "mysql-db-sys",
        setp(("addons", "mysql", "database"), "sys"),
        "addons.mysql.database",
        "system schema",
    ),
    (
        "mysql-db-quote",
        setp(("addons", "mysql", "database"), "app`; DROP"),
        "addons.mysql.database",
        "SQL name",
    ),
    (
        "mysql-db-digit",
        setp(("addons", "mysql", "database"), "1app"),
        "addons.mysql.database",
        "SQL name",
    ),
    ("nfs-off-unknown-node", nfs_off_naming("nfs9"), "addons.nfs.server_node", "no node is named"),
    (
        "nfs-node-injection",
        setp(("addons", "nfs", "server_node"), "cp1\nx"),
        "addons.nfs.server_node",
        "DNS-1123",
    ),
    (
        "validate-only-flood",
        setp(("addons", "validate_only"), ["nfs"] * 100),
        "addons.validate_only",
        "at most",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_config_is_refused_and_nothing_written(
    lab, write_config, tmp_path, mutate, path, words
):
    mutate(lab)
    out = tmp_path / "rendered"
    result = CliRunner().invoke(cli, ["render", "-i", str(write_config(lab)), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(rf"cluster\.yml:\d+: {re.escape(path)}: ", result.output), result.output
    assert words in result.output, result.output
    assert "fix: " in result.output
    assert not out.exists()


def test_a_refused_url_never_echoes_its_password(lab, write_config):
    lab["artifacts"]["release_url"] = "https://user:s3cret-pw@dl.k8s.io/release"
    result = CliRunner().invoke(cli, ["validate", "-i", str(write_config(lab))])
    assert result.exit_code == 2, result.output
    assert "credentials" in result.output
    assert "s3cret-pw" not in result.output and "user:***@" in result.output


# --- YAML and files built against the loader ------------------------------------------


def _bomb() -> str:
    text = "cluster: {name: lab}\na0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


def _wide_bomb() -> str:
    # few aliases, each of a big list: bounded by the expanded size, not the count
    text = "a0: &a0 [" + ", ".join(["x"] * 3000) + "]\n"
    text += "a1: &a1 [" + ", ".join(["*a0"] * 30) + "]\n"
    return text


TEXTS = [
    # (id, text, words, line)
    ("recursive-alias", "cluster: &c\n  name: *c\n", "recursive", 2),
    ("recursive-list", "nodes: &n [*n]\n", "recursive", 1),
    ("alias-bomb", _bomb(), "aliases", None),
    ("wide-alias-bomb", _wide_bomb(), "values once aliases are expanded", 1),
    ("deep-nesting", "cluster: " + "[" * 3000 + "]" * 3000 + "\n", "nested more than", 1),
    ("deep-mappings", "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 60)), "nested", None),
    ("int-key", "cluster:\n  1: lab\n", "key '1' is not a string", 2),
    ("bool-key", "cluster:\n  name: lab\nyes: 1\n", "is not a string (YAML reads it as bool)", 3),
    ("null-key", "~: 1\n", "is not a string", 1),
    ("complex-key", "? [a, b]\n: 1\n", "not a string", 1),
    ("python-tag", "cluster: !!python/object/apply:os.system [id]\n", "YAML syntax error", 1),
    ("two-documents", "cluster: {name: a}\n---\ncluster: {name: b}\n", "another document", 2),
    ("scalar-document", "just text\n", "must be a YAML mapping", 1),
    ("empty-file", "", "must be a YAML mapping", 1),
    ("huge-file", "# padding\n" * 120_000, "larger than", None),
]


@pytest.mark.parametrize(
    ("text", "words", "line"), [c[1:] for c in TEXTS], ids=[c[0] for c in TEXTS]
)
def test_hostile_yaml_is_refused(write_config, text, words, line):
    result = CliRunner().invoke(cli, ["validate", "-i", str(write_config(text))])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert words in result.output, result.output
    assert "fix: " in result.output
    if line is not None:
        assert f"cluster.yml:{line}: " in result.output, result.output


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "cluster.yml"
    path.write_bytes(b"cluster:\n  name: \xff\xfe\n")
    result = CliRunner().invoke(cli, ["validate", "-i", str(path)])
    assert result.exit_code == 2 and "not UTF-8" in result.output


def _fifo(tmp_path):
    path = tmp_path / "cluster.yml"
    os.mkfifo(path)
    return path


def _directory(tmp_path):
    path = tmp_path / "inv" / "cluster.yml"
    path.mkdir(parents=True)
    return path


def _symlink_loop(tmp_path):
    path = tmp_path / "cluster.yml"
    path.symlink_to(path)
    return path


def _dangling(tmp_path):
    path = tmp_path / "cluster.yml"
    path.symlink_to(tmp_path / "nowhere.yml")
    return path


def _device(tmp_path):
    path = tmp_path / "cluster.yml"
    path.symlink_to("/dev/zero")
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_fifo, "is a FIFO"),
        (_directory, "is a directory"),
        (_symlink_loop, "symlink loop"),
        (_dangling, "file not found"),
        (_device, "is a device"),
    ],
    ids=["fifo", "directory", "symlink-loop", "dangling-symlink", "dev-zero"],
)
def test_config_that_is_no_regular_file_is_refused_at_once(tmp_path, make, words):
    """A FIFO would block a reader forever and /dev/zero never ends: neither is read."""
    path = make(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "-i", str(path)])
    assert result.exit_code == 2, result.output
    assert words in result.output.lower() or words in result.output, result.output
    assert "Traceback" not in result.output


def test_a_lab_config_with_aliases_within_bounds_still_loads(lab, write_config):
    import yaml

    text = yaml.safe_dump(lab, sort_keys=False)
    text = text.replace("- name: w1\n  role: worker\n", "- name: w1\n  role: &r worker\n")
    text = text.replace("- name: w2\n  role: worker\n", "- name: w2\n  role: *r\n")
    assert "*r" in text
    result = CliRunner().invoke(cli, ["validate", "-i", str(write_config(text))])
    assert result.exit_code == 0, result.output
