"""The files provision keeps besides cluster.yml (a lab's state, a bundle's manifest)
made hostile: a FIFO, a symlink, a huge file, bytes that are not UTF-8, JSON of
another shape or nested without end. The real CLI and each reader end at once with
a clean error (2, or 6 for the bundle) naming the file and a fix: never a hang,
never an internal error, never a read or a write through a link.

No test here makes a machine: every `up` is of existing hosts (kind ssh) and names an
unknown phase, which is refused before any phase runs."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.addons.secrets import ensure_secrets
from provision.backup.stages import Stages
from provision.bundle.manifest import check_replaceable, read_manifest
from provision.cli.common import console
from provision.config.load import load_text
from provision.errors import BundleError, UsageError
from provision.files import MAX_DEPTH, read_json, read_small
from provision.machines.factory import recorded_provider
from provision.machines.providers.docker import DockerMachines
from provision.machines.providers.existing import SshHosts
from provision.phase_state import PhaseState, config_hash
from provision.project import read_owner, resolve_inventory
from provision.rebuild import Rebuild
from provision.report.write import read_history
from provision.runlog import NoRunLog, RunLog
from tests.conftest import CLI, ROOT, as_existing_hosts

K8S = "1.35.4"
ARTIFACT = {"name": "kubeadm", "kind": "binary", "path": "bin/kubeadm", "version": K8S}
MANIFEST = {"format": 1, "kubernetes": K8S, "artifacts": [{**ARTIFACT, "sha256": "0" * 64}]}


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The real `provision`; a hang fails the test (TimeoutExpired) instead of blocking."""
    started = time.monotonic()
    out = subprocess.run(
        [str(CLI), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert time.monotonic() - started < 60
    assert "internal error" not in out.stderr, out.stderr
    return out


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return {**os.environ, "COLUMNS": "200"}


@pytest.fixture
def existing(lab, tmp_path, write_config, env) -> tuple[Path, Path]:
    """(cluster.yml of existing hosts, its state dir): nothing can make a machine."""
    lab = as_existing_hosts(lab, tmp_path)
    lab["artifacts"]["bundle_dir"] = str(tmp_path / "bundle")
    config = write_config(lab)
    return config, resolve_inventory(str(config)).state_dir


# -- the real CLI against FIFOs ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("machines.json", "status"),
        ("machines.json", "up"),
        ("owner.json", "up"),
        ("phases.json", "up"),
    ],
)
def test_a_fifo_in_the_state_dir_is_refused_by_the_cli(existing, env, name, command):
    config, state = existing
    fifo(state / name)
    args = ["up", "--only", "no-such-phase"] if command == "up" else ["status"]
    out = cli(*args, "-i", str(config), env=env)
    assert out.returncode == 2, out.stderr
    assert f"{state / name}: it is a FIFO, not a regular file" in out.stderr
    assert "fix: remove it" in out.stderr
    assert "unknown phase" not in out.stderr  # refused before the phases were looked at


def test_another_labs_fifo_owner_record_is_skipped(existing, env):
    """Every changing command reads every other lab's owner.json: a FIFO there must
    neither hang this lab nor block it."""
    config, state = existing
    fifo(state.parent / "other-12345678" / "owner.json")
    out = cli("up", "--only", "no-such-phase", "-i", str(config), env=env)
    assert out.returncode == 2 and "unknown phase no-such-phase" in out.stderr, out.stderr
    assert json.loads((state / "owner.json").read_text())["cluster_file"] == str(config)


def test_a_fifo_known_hosts_is_refused_before_any_connection(existing, tmp_path, env):
    config, _ = existing
    (tmp_path / "known_hosts").unlink()
    fifo(tmp_path / "known_hosts")
    out = cli("status", "-i", str(config), env=env)
    assert out.returncode == 2, out.stderr
    assert "machines.ssh.known_hosts" in out.stderr and "a FIFO" in out.stderr
    assert "fix: point machines.ssh.known_hosts at" in out.stderr


def test_a_fifo_bundle_manifest_is_refused_with_the_bundle_exit_code(existing, tmp_path, env):
    config, _ = existing
    fifo(tmp_path / "bundle" / "manifest.json")
    out = cli("bundle", "check", "-i", str(config), env=env)
    assert out.returncode == 6, out.stderr
    assert "bundle manifest" in out.stderr and "a FIFO" in out.stderr
    assert "fix: rebuild the bundle" in out.stderr


# -- the real CLI against text that is not UTF-8 ------------------------------------

_HOSTS = (
    b"all:\n  children:\n    k8s_cluster:\n      children:\n        control_plane:\n"
    b"          hosts:\n            c\xffp1: {ansible_host: 10.0.0.1, ansible_port: 22, "
    b"ansible_user: root}\n"
)


@pytest.mark.parametrize(
    ("name", "command", "content"),
    [
        ("machines.json", "status", b'{"provider": "docker", "docker": {"image": "n\xffde"}}'),
        ("owner.json", "up", b'{"cluster_file": "/x", "cluster": "l\xffb", "makes_machines": 1}'),
        ("hosts.yml", "verify", _HOSTS),
        ("known_hosts", "verify", b"c\xffp1 ssh-ed25519 AAAA\n"),
    ],
)
def test_text_that_is_not_utf8_in_a_state_file_is_a_clean_error(
    existing, tmp_path, env, name, command, content
):
    """A node name (or any text) of bytes that are not UTF-8 in a file of the lab's
    state: exit 2 naming the file and the fix, nothing reaches a node."""
    config, state = existing
    state.mkdir(parents=True, exist_ok=True)
    if name == "known_hosts":  # reached once the inventory is read: one to read
        from provision.inventory import write_inventory
        from provision.machines.base import SshEndpoint

        cfg = load_text(config.read_text(), str(config))
        key = str(tmp_path / "id")
        endpoints = {n.name: SshEndpoint("10.0.0.1", 22, "root", key) for n in cfg.nodes}
        write_inventory(state / "hosts.yml", cfg, endpoints, state / "known_hosts")
    (state / name).write_bytes(content)
    args = ["up", "--only", "no-such-phase"] if command == "up" else [command]
    out = cli(*args, "-i", str(config), env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    text = " ".join(out.stderr.split())
    assert str(state / name) in text and "fix:" in text
    words = "not the inventory provision writes" if name == "hosts.yml" else "not UTF-8"
    assert words in text, text


# -- each reader in-process, one table ---------------------------------------------


def _config(tmp_path: Path):
    import yaml

    from tests.conftest import LAB

    lab = as_existing_hosts(yaml.safe_load(LAB.read_text()), tmp_path)
    return load_text(yaml.safe_dump(lab), str(tmp_path / "cluster.yml"))


def _cluster(d: Path) -> Path:
    cluster = d / "cluster.yml"
    if not cluster.exists():
        cluster.write_text("cluster: {name: lab}\n")
    return cluster


def _stages(d: Path):
    return Stages.begin(d, "restore", RunLog(d, "restore", console()), "hint")


def _secrets(d: Path):
    config = SimpleNamespace(addons=SimpleNamespace(enabled=lambda: {"mysql"}))
    return ensure_secrets(config, d)


def _known_hosts(d: Path):
    hosts = SshHosts(_config(d), d, NoRunLog())
    hosts.access = hosts.access.model_copy(update={"known_hosts": str(d / "kh")})
    return hosts.known_hosts({})


# name: (file under the directory, reader, error class, a valid content)
READERS = {
    "owner.json": ("owner.json", lambda d: read_owner(d / "owner.json"), UsageError),
    "phases.json": ("phases.json", lambda d: PhaseState.load(d, _cluster(d)), UsageError),
    "operation.json": ("operation.json", _stages, UsageError),
    "machines.json": (
        "machines.json",
        lambda d: recorded_provider(SimpleNamespace(state_dir=d)),
        UsageError,
    ),
    "machines.json docker": (
        "machines.json",
        lambda d: DockerMachines(SimpleNamespace(state_dir=d), None, None)._recorded("image"),
        UsageError,
    ),
    "secrets": ("secrets/addons.json", _secrets, UsageError),
    "verify.json": (
        "verify.json",
        lambda d: Rebuild._verify_results(SimpleNamespace(log=SimpleNamespace(dir=d))),
        UsageError,
    ),
    "history": ("history.jsonl", lambda d: read_history(d / "history.jsonl"), UsageError),
    "manifest": ("manifest.json", lambda d: read_manifest(d, K8S), BundleError),
    "manifest replace": ("manifest.json", lambda d: check_replaceable(d), BundleError),
    "known_hosts": ("kh", _known_hosts, UsageError),
}
VALID = {
    "owner.json": {"cluster_file": "/x/cluster.yml", "cluster": "lab", "makes_machines": True},
    "phases.json": {"config_sha256": "", "run": "r", "phases": {"machines": {"status": "done"}}},
    "operation.json": {
        "operation": "restore",
        "archive": "/b.tar.gz",
        "run": "r",
        "stages": {"etcd": {"status": "done", "seconds": 1.5}},
    },
    "machines.json": {"provider": "docker", "docker": {"image": "img:1", "seed": None}},
    "machines.json docker": {"provider": "docker", "docker": {"image": "img:1", "seed": None}},
    "secrets": {"mysql-password": "x", "mysql-root-password": "y"},
    "verify.json": [
        {"addon": "mysql", "check": "c", "status": "failed", "detail": "d", "seconds": 2.0}
    ],
    "history": {
        "report": "r1",
        "passed": True,
        "seconds": 9.5,
        "checks": 2,
        "checks_failed": 0,
        "phases": {"machines": 1.5},
    },
    "manifest": MANIFEST,
    "manifest replace": MANIFEST,
    "known_hosts": None,  # text, not JSON
}


def expect(name: str, words: str) -> str:
    """What the error says: check_replaceable calls anything unreadable no manifest."""
    return "no bundle manifest" if name == "manifest replace" else words


def valid_bytes(name: str, d: Path) -> bytes:
    if name == "known_hosts":
        return b"10.0.0.1 ssh-ed25519 AAAA\n"
    value = copy.deepcopy(VALID[name])
    if name == "phases.json":
        value["config_sha256"] = config_hash(_cluster(d))
    return json.dumps(value).encode() + b"\n"


def place(name: str, d: Path, content: bytes) -> Path:
    path = d / READERS[name][0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("name", READERS)
def test_each_reader_takes_the_valid_file(tmp_path, name):
    place(name, tmp_path, valid_bytes(name, tmp_path))
    READERS[name][1](tmp_path)


@pytest.mark.parametrize("name", READERS)
def test_each_reader_refuses_a_fifo_at_once(tmp_path, name):
    path = fifo(tmp_path / READERS[name][0])
    started = time.monotonic()
    with pytest.raises(READERS[name][2], match=expect(name, "a FIFO, not a regular file")) as e:
        READERS[name][1](tmp_path)
    assert time.monotonic() - started < 5
    assert str(path.parent) in str(e.value) and "\n  fix: " in str(e.value)


@pytest.mark.parametrize("name", [n for n in READERS if n != "known_hosts"])
def test_each_reader_refuses_a_symlink_and_leaves_its_target_alone(tmp_path, name):
    target = tmp_path / "elsewhere" / "precious"
    target.parent.mkdir()
    before = valid_bytes(name, tmp_path)
    target.write_bytes(before)
    os.utime(target, (1_000_000, 1_000_000))
    link = tmp_path / "state" / READERS[name][0]
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    with pytest.raises(READERS[name][2], match=expect(name, "symlink")):
        READERS[name][1](tmp_path / "state")
    assert os.stat(target).st_atime == 1_000_000  # not even read
    assert os.stat(target).st_mtime == 1_000_000
    assert target.read_bytes() == before


def test_a_symlinked_known_hosts_is_followed_to_a_regular_file(tmp_path):
    """known_hosts is named by the config, which may name any path: a link (a dotfile
    manager's) reaches nothing the config could not name, so it is followed; what it
    reaches must still be a small regular file."""
    (tmp_path / "real").write_text("10.0.0.1 ssh-ed25519 AAAA\n")
    (tmp_path / "kh").symlink_to(tmp_path / "real")
    assert _known_hosts(tmp_path) == "10.0.0.1 ssh-ed25519 AAAA\n"
    (tmp_path / "kh").unlink()
    (tmp_path / "kh").symlink_to(fifo(tmp_path / "pipe"))
    with pytest.raises(UsageError, match="a FIFO"):
        _known_hosts(tmp_path)


@pytest.mark.parametrize("name", READERS)
def test_each_reader_refuses_an_oversized_file(tmp_path, name):
    path = place(name, tmp_path, valid_bytes(name, tmp_path))
    os.truncate(path, 17 << 20)  # sparse: big to stat, nothing on disk
    with pytest.raises(READERS[name][2], match=expect(name, "bytes, more than the")):
        READERS[name][1](tmp_path)


# Records a killed writer may leave torn start over (their modules say so): bytes
# that are not JSON, not UTF-8 or nested too deep are such a tear.
TORN_STARTS_OVER = {"phases.json", "operation.json"}


@pytest.mark.parametrize("name", READERS)
def test_each_reader_refuses_bytes_that_are_not_utf8(tmp_path, name):
    place(name, tmp_path, b'{"a": "\xff\xfe"}\n')
    if name in TORN_STARTS_OVER:
        READERS[name][1](tmp_path)  # nothing to resume from: a full run
        return
    with pytest.raises(READERS[name][2], match=expect(name, "UTF-8")):
        READERS[name][1](tmp_path)


# A record of the right top level with one member of the wrong type.
WRONG_MEMBER = {
    "owner.json": {"cluster_file": 1, "cluster": "lab", "makes_machines": True},
    "phases.json": {"config_sha256": "", "run": "r", "phases": {"machines": "done"}},
    "operation.json": {"operation": "restore", "stages": {"etcd": {"seconds": "1"}}},
    "machines.json": {"provider": ["docker"]},
    "machines.json docker": {"docker": {"image": 1}},
    "secrets": {"mysql-password": 1},
    "verify.json": [{"addon": "mysql"}],
    "history": {**VALID["history"], "phases": {"machines": "1.5"}},
    "manifest": {**MANIFEST, "artifacts": [{**ARTIFACT, "sha256": 0}]},
    "manifest replace": {**MANIFEST, "artifacts": {}},
}


@pytest.mark.parametrize("name", WRONG_MEMBER)
@pytest.mark.parametrize("content", ["[1]", '"x"', "3", "member"])
def test_each_reader_refuses_json_of_another_shape(tmp_path, name, content):
    if content == "member":
        content = json.dumps(WRONG_MEMBER[name])
    place(name, tmp_path, content.encode())
    with pytest.raises(READERS[name][2]) as e:
        READERS[name][1](tmp_path)
    assert "\n  fix: " in str(e.value)


@pytest.mark.parametrize("name", [n for n in READERS if n != "known_hosts"])
def test_each_reader_refuses_deep_nesting(tmp_path, name):
    place(name, tmp_path, b"[" * 100_000 + b"]" * 100_000)
    if name in TORN_STARTS_OVER:
        READERS[name][1](tmp_path)  # nothing to resume from: a full run
        return
    with pytest.raises(READERS[name][2], match=expect(name, "nested more than")):
        READERS[name][1](tmp_path)


def test_the_depth_cap_is_exact(tmp_path):
    path = tmp_path / "f.json"
    path.write_text("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert read_json(path, "x", shape=list) is not None
    path.write_text("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(UsageError, match=f"nested more than {MAX_DEPTH} levels"):
        read_json(path, "x", shape=list)
    path.write_text("[" * 100_000)
    with pytest.raises(UsageError, match=f"nested more than {MAX_DEPTH} levels"):
        read_json(path, "x", shape=list)


def test_a_missing_file_is_nothing_recorded(tmp_path):
    assert read_small(tmp_path / "none", "x") is None
    assert read_json(tmp_path / "none", "x") is None
    assert read_owner(tmp_path / "owner.json") is None
    assert recorded_provider(SimpleNamespace(state_dir=tmp_path)) is None
    assert PhaseState.load(tmp_path, _cluster(tmp_path)).entries == {}
    assert read_history(tmp_path / "history.jsonl") == []


def test_claim_state_never_writes_through_a_symlinked_owner_record(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "cluster.yml").write_text("cluster: {name: lab}\n")
    inv = resolve_inventory(str(tmp_path / "inv" / "cluster.yml"))
    inv.state_dir.mkdir(parents=True)
    target = tmp_path / "precious"
    target.write_text("mine\n")
    inv.owner_file.symlink_to(target)
    with pytest.raises(UsageError, match="symlink") as e:
        inv.claim_state("lab", makes_machines=True)
    assert f"fix: remove it (`rm {inv.owner_file}`)" in str(e.value)
    assert target.read_text() == "mine\n"


def test_another_labs_symlinked_owner_record_does_not_block(tmp_path, monkeypatch):
    """A link to a record that would claim the cluster name is no record."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "cluster.yml").write_text("cluster: {name: lab}\n")
    inv = resolve_inventory(str(tmp_path / "inv" / "cluster.yml"))
    other = inv.state_dir.parent / "other-00000000"
    other.mkdir(parents=True)
    (tmp_path / "other.yml").write_text("x")
    record = {"cluster_file": str(tmp_path / "other.yml"), "cluster": "lab", "makes_machines": True}
    (tmp_path / "record").write_text(json.dumps(record))
    (other / "owner.json").symlink_to(tmp_path / "record")
    inv.claim_state("lab", makes_machines=True)
    (other / "owner.json").unlink()
    (other / "owner.json").write_text(json.dumps(record))  # the real one still blocks
    with pytest.raises(UsageError, match="already used"):
        inv.claim_state("lab", makes_machines=True)


# -- property-based: whatever the bytes, only the clean error ----------------------

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


def _paths(value, at=()):
    """Every place in a JSON value: the key paths of its containers' members."""
    yield at
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, member in items:
        yield from _paths(member, (*at, key))


def _set(value, at, new):
    if not at:
        return new
    value[at[0]] = _set(value[at[0]], at[1:], new)
    return value


@st.composite
def contents(draw, name: str) -> bytes:
    """Random bytes, random JSON, or the valid record with one member replaced."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "deep":
        n = draw(st.integers(0, 3 * MAX_DEPTH))
        return draw(st.sampled_from([b"[", b'{"a":'])) * n
    if VALID[name] is None:
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    record = copy.deepcopy(VALID[name])
    at = draw(st.sampled_from(list(_paths(record))))
    return json.dumps(_set(record, at, draw(JSON))).encode()


@pytest.mark.parametrize("name", READERS)
@SETTINGS
@given(data=st.data())
def test_any_content_gives_the_value_or_the_clean_error(name, data):
    with tempfile.TemporaryDirectory() as d:
        content = data.draw(contents(name))
        place(name, Path(d), content)
        try:
            READERS[name][1](Path(d))
        except READERS[name][2] as e:
            assert "\n  fix: " in str(e)


@SETTINGS
@given(size=st.integers(0, 5000), max_bytes=st.integers(0, 5000))
def test_read_small_returns_the_file_or_refuses_it_by_size(size, max_bytes):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f"
        path.write_bytes(b"x" * size)
        if size <= max_bytes:
            assert read_small(path, "x", max_bytes=max_bytes) == b"x" * size
        else:
            with pytest.raises(UsageError, match=f"{size} bytes, more than the {max_bytes}"):
                read_small(path, "x", max_bytes=max_bytes)


@SETTINGS
@given(content=st.binary(max_size=400) | JSON.map(lambda v: json.dumps(v).encode()))
def test_read_json_gives_an_object_or_the_clean_error(content):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.json"
        path.write_bytes(content)
        for shape in (dict, list):
            try:
                assert isinstance(read_json(path, "x", shape=shape), shape)
            except UsageError as e:
                assert str(e).startswith(f"x {path}: ") and "\n  fix: " in str(e)
