"""The stamps that let `up` skip a playbook that converged (pure logic; the lab
tests run them on real nodes)."""

from pathlib import Path

import yaml

from provision.phases import BY_PLAYBOOK
from provision.playbooks.converged import (
    READ_STAMPS,
    STAMP_DIR,
    STAMPS,
    UNITS,
    Converged,
    Decision,
    NodeStamps,
    Why,
    inputs_digest,
    stamp_command,
)

ROOT = Path(__file__).resolve().parents[2]


def tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    (tmp_path / "playbooks" / "roles" / "r").mkdir(parents=True)
    (tmp_path / "playbooks" / "roles" / "r" / "main.yml").write_text("- x\n")
    hosts = tmp_path / "hosts.yml"
    hosts.write_text("all: {}\n")
    manifest = tmp_path / "calico.yaml"
    manifest.write_text("kind: DaemonSet\n")
    return tmp_path, hosts, manifest


def test_digest_follows_roles_vars_named_files_and_inventory(tmp_path):
    root, hosts, manifest = tree(tmp_path)
    extra = {"calico_manifest_file": str(manifest), "cri": "containerd"}
    first = inputs_digest(root, "network.yml", extra, hosts)
    assert inputs_digest(root, "network.yml", dict(extra), hosts) == first
    assert inputs_digest(root, "join.yml", extra, hosts) != first
    assert inputs_digest(root, "network.yml", {**extra, "cri": "docker"}, hosts) != first
    manifest.write_text("kind: DaemonSet\nx: 1\n")
    second = inputs_digest(root, "network.yml", extra, hosts)
    assert second != first
    (root / "playbooks" / "roles" / "r" / "main.yml").write_text("- y\n")
    third = inputs_digest(root, "network.yml", extra, hosts)
    assert third != second
    hosts.write_text("all: {vars: {a: 1}}\n")
    fourth = inputs_digest(root, "network.yml", extra, hosts)
    assert fourth != third
    # how Ansible reaches a node does not count: a node made again on another port
    hosts.write_text("all: {vars: {a: 1, ansible_port: 2201, ansible_user: vagrant}}\n")
    assert inputs_digest(root, "network.yml", extra, hosts) == fourth


def test_what_a_playbook_writes_and_the_bundle_tree_do_not_count(tmp_path):
    root, hosts, _ = tree(tmp_path)
    out = tmp_path / "kubeconfig"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    extra = {"kubeconfig_dest": str(out), "bundle_dir": str(bundle)}
    before = inputs_digest(root, "control-plane.yml", extra, hosts)
    out.write_text("fetched by the playbook")
    (bundle / "big.tar").write_text("image")
    assert inputs_digest(root, "control-plane.yml", extra, hosts) == before


def test_a_stamp_counts_only_with_its_digest_and_its_services_running():
    node = NodeStamps.parse(
        "stamp join.yml abc containerd,kubelet,\n"
        "stamp prepare.yml def \n"
        "unit containerd active\nunit kubelet inactive\nunit docker active\n"
    )
    assert node.why_not("prepare.yml", "def") is None
    assert node.why_not("prepare.yml", "xyz") == "inputs changed"
    assert node.why_not("runtime.yml", "def") == "no stamp"
    assert node.why_not("join.yml", "abc") == "kubelet not running"


def test_stamps_written_and_read_back_by_the_real_shell(tmp_path):
    """The commands (the node script stamps.sh) run here, with systemctl stood in by
    a script (the lab tests run them on nodes with systemd)."""
    from .local_node import LocalShell, stand_in

    stand_in(
        tmp_path / "bin",
        "systemctl",
        'for a; do u=$a; done\ncase "$u" in kubelet|containerd) '
        '[ "$2" = --quiet ] || echo active; exit 0;; esac\n[ "$2" = --quiet ] || echo inactive\n'
        "exit 3\n",
    )
    stamps = tmp_path / "stamps"
    sh = LocalShell(tmp_path / "bin", {STAMP_DIR: str(stamps)})

    assert NodeStamps.parse(sh(READ_STAMPS)).stamps == {}
    for playbook, digest in (("join.yml", "d1"), ("runtime.yml", "d2"), ("prepare.yml", "d3")):
        sh(stamp_command(playbook, digest, BY_PLAYBOOK[playbook].starts))
    node = NodeStamps.parse(sh(READ_STAMPS))
    # each stamp names the running services its playbook starts, no other
    assert node.stamps == {
        "join.yml": ("d1", frozenset({"kubelet"})),
        "runtime.yml": ("d2", frozenset({"containerd"})),
        "prepare.yml": ("d3", frozenset()),
    }
    assert node.active == {"containerd", "kubelet"}
    assert node.why_not("join.yml", "d1") is None
    assert not list(stamps.glob("*.part"))
    sh([STAMPS, "remove", STAMP_DIR, "join.yml"])  # as unstamp() does
    assert "join.yml" not in NodeStamps.parse(sh(READ_STAMPS)).stamps


def test_node_reset_removes_the_stamps_where_up_writes_them():
    defaults = yaml.safe_load(
        (ROOT / "playbooks" / "roles" / "kube_reset" / "defaults" / "main.yml").read_text()
    )
    shared = yaml.safe_load((ROOT / "provision" / "shared_defaults.yml").read_text())
    assert defaults["kube_reset_converged_dir"] == "{{ provision_converged_dir }}"
    assert shared["provision_converged_dir"] == STAMP_DIR
    assert set(UNITS) >= {"containerd", "kubelet"}


class Stamped(Converged):
    """Converged over stamps given here instead of read over SSH."""

    def __init__(self, stamps: dict[str, str], enabled: bool = True):
        super().__init__(None, None, enabled)  # type: ignore[arg-type]
        self._nodes = {n: NodeStamps.parse(text) for n, text in stamps.items()}

    def names(self) -> list[str]:
        return list(self._nodes or {})


def decide(c: Converged, playbook: str, digest: str = "d") -> Decision:
    """Where the phase that owns `playbook` runs it."""
    return c.decide(playbook, digest, BY_PLAYBOOK[playbook].node_local)


ALL_DONE = "".join(f"stamp {p} d \n" for p in ("prepare.yml", "runtime.yml", "join.yml"))


def test_a_node_made_again_runs_the_node_playbooks_alone_and_the_cluster_ones_everywhere():
    c = Stamped({"cp1": ALL_DONE, "w1": "", "w2": ALL_DONE})
    prepare = decide(c, "prepare.yml")
    assert (prepare.hosts, prepare.every, prepare.why, prepare.detail) == (
        ("w1",),
        False,
        Why.NODES,
        "w1: no stamp",
    )
    c.ran(prepare)
    runtime = decide(c, "runtime.yml")
    assert (runtime.hosts, runtime.every) == (("w1",), False)
    c.ran(runtime)
    join = decide(c, "join.yml")  # stamped on cp1 and w2, but w1 was touched
    assert (join.hosts, join.every) == (("cp1", "w1", "w2"), True)
    c.ran(join)
    assert decide(c, "runtime.yml").hosts == ("cp1", "w1", "w2")
    assert decide(c, "runtime.yml").why == Why.EARLIER


def test_converged_everywhere_is_skipped_and_full_runs_everything():
    assert Stamped({"cp1": ALL_DONE, "w1": ALL_DONE}).decide("join.yml", "d").hosts == ()
    full = decide(Stamped({"cp1": ALL_DONE, "w1": ALL_DONE}, enabled=False), "prepare.yml")
    assert (full.hosts, full.every, full.why) == (("cp1", "w1"), True, Why.FULL)
    other = decide(Stamped({"cp1": ALL_DONE, "w1": ALL_DONE}), "prepare.yml", "e")
    assert (other.hosts, other.every) == (("cp1", "w1"), True)  # inputs changed everywhere
