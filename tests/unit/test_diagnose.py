"""`provision diagnose`: what it redacts, how it caps, how it writes the archive, and
that a node or API that fails is recorded and never stops the rest (a fake shell for
the collector's logic; the real SSH path against a closed port, no lab)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shlex
import socket
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provision.config import load
from provision.errors import UsageError
from provision.inventory import write_inventory
from provision.machines.base import SshEndpoint
from provision.machines.ssh_hosts import UnreachableHost
from provision.project import resolve_inventory
from provision.remote import RemoteFailed
from provision.report import diagnose as d
from provision.runlog import RunLog
from tests.conftest import provision


def b64(n: int) -> str:
    return base64.b64encode(secrets.token_bytes(n)).decode()


def pem(kind: str = "RSA ") -> str:
    body = b64(900)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(
        [f"-----BEGIN {kind}PRIVATE KEY-----", *lines, f"-----END {kind}PRIVATE KEY-----"]
    )


KEY_DATA = b64(1200)
SA_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkE5In0." + "eyJpc3MiOiJrdWJlcm5ldGVzIn0." + "c2lnbmF0dXJl"
KUBECONFIG = f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=
    server: https://192.168.56.10:6443
  name: lab
contexts:
- context:
    cluster: lab
    user: kubernetes-admin
  name: kubernetes-admin@lab
current-context: kubernetes-admin@lab
kind: Config
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUQ=
    client-key-data: {KEY_DATA}
- name: deployer
  user:
    token: {SA_TOKEN}
"""


def test_a_real_looking_kubeconfig_keeps_its_shape_and_loses_its_keys():
    text, count = d.redact(KUBECONFIG)
    assert KEY_DATA not in text and SA_TOKEN not in text and SA_TOKEN[:20] not in text
    assert "client-key-data: <redacted:client-key-data>" in text
    assert "token: <redacted:token>" in text
    # public parts stay: they are what one reads to diagnose
    assert "client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUQ=" in text
    assert "server: https://192.168.56.10:6443" in text
    assert count == 2


def test_a_kubeconfig_as_json_in_an_event_is_redacted_too():
    event = json.dumps({"stdout": KUBECONFIG, "res": {"client-key-data": KEY_DATA}})
    text, count = d.redact(event)
    assert KEY_DATA not in text and SA_TOKEN not in text
    assert count == 3


def test_a_bootstrap_token_in_a_join_command_is_redacted_and_the_ca_hash_kept():
    ca_hash = "sha256:" + secrets.token_hex(32)
    cert_key = secrets.token_hex(32)
    line = (
        "kubeadm join 192.168.56.10:6443 --token 7f2kq9.x0b3n8c2m1v4z6aa "
        f"--discovery-token-ca-cert-hash {ca_hash} --control-plane --certificate-key {cert_key}"
    )
    text, count = d.redact(line)
    assert "7f2kq9.x0b3n8c2m1v4z6aa" not in text and cert_key not in text
    assert "--token <redacted:bootstrap-token>" in text
    assert ca_hash in text
    assert count == 2
    # the bootstrap token's Secret, as kubectl prints it
    text, _ = d.redact("token-id: 7f2kq9\ntoken-secret: x0b3n8c2m1v4z6aa\n")
    assert "x0b3n8c2m1v4z6aa" not in text


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "", "OPENSSH "])
def test_a_private_key_block_is_redacted_whole(kind):
    key = pem(kind)
    text, count = d.redact(f"before\n{key}\nafter\n")
    assert text == "before\n<redacted:private-key>\nafter\n" and count == 1
    escaped = json.dumps({"content": key})  # one line, \n escaped, as in an event
    text, _ = d.redact(escaped)
    assert "PRIVATE KEY" not in text and key.splitlines()[5] not in text


def test_a_key_cut_at_either_end_is_redacted_to_that_end():
    key = pem()
    lines = key.splitlines()
    start_only = "log\n" + "\n".join(lines[:6])  # a head kept: no END
    text, _ = d.redact(start_only)
    assert text == "log\n<redacted:private-key>"
    end_only = "\n".join(lines[6:]) + "\nlater line\n"  # a tail kept: no BEGIN
    text, _ = d.redact(end_only)
    assert text == "<redacted:private-key>\nlater line\n"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("MYSQL_ROOT_PASSWORD=Zq8vLw2mNp4rTt6y", "Zq8vLw2mNp4rTt6y"),
        ("env password=hunter2hunter2 user=x", "hunter2hunter2"),
        ('{"mysql-password": "aB3dE5gH7jK9"}', "aB3dE5gH7jK9"),
        ("rabbitmq_password: 'qW3eR5tY7uI9'", "qW3eR5tY7uI9"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
    ],
)
def test_password_and_bearer_values_are_redacted(line, secret):
    text, count = d.redact(line)
    assert secret not in text and count == 1


def test_what_only_names_a_secret_is_kept():
    line = "MYSQL_ROOT_PASSWORD:  <set to the key 'mysql-root-password' in secret 'mysql'>"
    assert d.redact(line) == (line, 0)
    assert d.redact("Ready   True   KubeletReady   kubelet is posting ready status")[1] == 0


def test_the_labs_credentials_are_redacted_wherever_they_appear(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    stored = {
        "mysql-root-password": "S3cr3tRootPassw0rdXyz12",
        "rabbitmq-user": "provision",
        "rabbitmq-erlang-cookie": "CookieCookieCookieCookie0123456",
    }
    (folder / "addons.json").write_text(json.dumps(stored))
    literals = d.credentials(tmp_path)
    assert "provision" not in literals  # a user name, and the tool's own name everywhere
    log = (
        "erl -setcookie CookieCookieCookieCookie0123456\n"
        "mysql -uroot -pS3cr3tRootPassw0rdXyz12 -e 'select 1'  # provision verify\n"
    )
    text, count = d.redact(log, literals)
    assert "S3cr3tRootPassw0rdXyz12" not in text and "CookieCookie" not in text
    assert "provision verify" in text and count == 2


def test_credentials_that_cannot_be_read_stop_the_archive(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (tmp_path / "elsewhere.json").write_text("{}")
    (folder / "addons.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UsageError, match="symlink"):
        d.credentials(tmp_path)
    assert d.credentials(tmp_path / "no-lab") == []


def test_a_file_over_the_cap_keeps_its_tail_whole_lines_and_says_so():
    data = b"".join(f"line {i:06d}\n".encode() for i in range(50_000))
    capped, cut = d.cap_tail(data, 10_000)
    assert cut and len(capped) <= 10_000
    first, rest = capped.split(b"\n", 1)
    assert first.startswith(b"[provision diagnose: truncated: the first ")
    assert data.endswith(rest) and rest.startswith(b"line ")
    assert d.cap_tail(b"small\n", 10_000) == (b"small\n", False)
    one_line = b"y" * 50_000 + b"\n"  # no whole line fits: the line's tail is kept
    capped, cut = d.cap_tail(one_line, 10_000)
    assert cut and len(capped) > 9_000 and capped.endswith(b"y\n")


def test_package_redacts_before_capping_and_keeps_within_the_total():
    key = pem()
    big = (key + "\n" + ("x" * 99 + "\n") * 50).encode()  # the key is in the part cut away
    got = d.Collected(
        files=[
            ("ansible/a.json", b'{"msg": "password=Pa55w0rdPa55"}'),
            ("cluster/big.txt", big),
            ("nodes/w1/journal.log", b"y" * 4000),
            ("nodes/w2/journal.log", b"z" * 100),
        ],
        missing=[d.Missing("nodes/w2/x", "failed", "mysql -pS3cr3tRootPassw0rdXyz12 failed")],
    )
    files, index = d.package(
        got, ["S3cr3tRootPassw0rdXyz12"], {"cluster": "lab"}, max_file=3000, max_total=4000
    )
    names = [n for n, _ in files]
    assert names == ["ansible/a.json", "cluster/big.txt", "nodes/w2/journal.log"]
    assert all(b"Pa55w0rd" not in data and b"PRIVATE KEY" not in data for _, data in files)
    listed = {f["name"]: f for f in index["files"]}
    assert listed["cluster/big.txt"]["truncated"] and not listed["ansible/a.json"]["truncated"]
    assert index["bytes"] == sum(len(data) for _, data in files) <= 4000
    skipped = {m["name"]: m for m in index["not_collected"]}
    assert skipped["nodes/w1/journal.log"]["reason"] == "over the total size"
    assert "S3cr3t" not in skipped["nodes/w2/x"]["detail"]
    assert index["redactions"] == 3 and index["cluster"] == "lab"


def test_the_archive_is_0600_and_never_written_through_a_planted_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    path = out / "diagnostics-x.tar.gz"
    path.symlink_to(target)
    (out / ".diagnostics-x.tar.gz.tmp").symlink_to(target)
    d.write_archive(path, "diagnostics-x", [("diagnostics.json", b"{}\n"), ("a/b.txt", b"hi\n")])
    assert target.read_text() == "keep me\n"
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["diagnostics-x/diagnostics.json", "diagnostics-x/a/b.txt"]
        assert all(m.mode == 0o600 and m.isfile() for m in tar.getmembers())
    assert sorted(p.name for p in out.iterdir()) == ["diagnostics-x.tar.gz"]


class FakeShell:
    """A node's shell: answers by the first rule whose text is in the command."""

    def __init__(self, rules: list[tuple[str, str | Exception]]):
        self.rules = rules
        self.ran: list[tuple[str, int]] = []

    def __call__(self, argv, timeout: int = 600) -> str:
        assert not isinstance(argv, str), "a node command is argv"
        command = shlex.join(argv)
        self.ran.append((command, timeout))
        for text, answer in self.rules:
            if text in command:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return f"output of {command}\n"


SINCE = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def by_name(got: d.Collected) -> tuple[dict[str, bytes], dict[str, d.Missing]]:
    return dict(got.files), {m.name: m for m in got.missing}


def test_journals_since_the_given_time_and_a_missing_unit_is_noted():
    sh = FakeShell([("journal.sh docker", d.NO_UNIT + "\n")])
    files, missing = by_name(d.run_items(d.node_items("w1", SINCE), sh))
    assert sorted(files) == [
        "nodes/w1/failed-units.txt",
        *(f"nodes/w1/journal-{u}.log" for u in ("containerd", "kubelet", "sshd")),
    ]
    assert missing["nodes/w1/journal-docker.log"].reason == "no such unit"
    assert all(f" {int(SINCE.timestamp())} " in c for c, _ in sh.ran if "journal.sh" in c)
    assert all(t > 0 for _, t in sh.ran)  # every command has its timeout


def test_the_control_planes_static_pods_are_read_on_the_node_and_a_missing_one_noted():
    """An API server down cannot serve its own logs: they are read from the kubelet's
    files on the node, whether the API answers or not; a pod the node does not run is
    noted, not archived."""
    sh = FakeShell(
        [
            ("static-pod-logs.sh /var/log/pods etcd", d.NO_POD + "\n"),
            (
                "kubectl",
                RemoteFailed("The connection to the server 192.168.56.10:6443 was refused"),
            ),
        ]
    )
    items = [*d.CLUSTER_ITEMS, *d.static_pod_items("cp1")]
    files, missing = by_name(d.run_items(items, sh))
    assert sorted(files) == [
        f"nodes/cp1/static-pod-{p}.log"
        for p in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    assert missing["nodes/cp1/static-pod-etcd.log"].reason == "no such pod"
    assert all(" cp1 " in c for c, _ in sh.ran if "static-pod-logs.sh" in c)


def test_an_unreachable_node_is_recorded_and_its_other_items_skipped():
    sh = FakeShell([("", UnreachableHost("w2: cannot be reached over SSH at 10.0.0.3:22"))])
    got = d.run_items(d.node_items("w2", SINCE), sh)
    assert got.files == [] and len(sh.ran) == 1
    assert {m.reason for m in got.missing} == {"node unreachable"}
    assert len(got.missing) == len(d.UNITS) + 1  # the journals and the failed units


def test_an_api_down_skips_the_kubectl_items_not_the_journals():
    down = RemoteFailed("The connection to the server 192.168.56.10:6443 was refused")
    sh = FakeShell([("kubectl", down)])
    items = [*d.CLUSTER_ITEMS, *d.node_items("cp1", SINCE)]
    files, missing = by_name(d.run_items(items, sh))
    assert sum("kubectl" in c for c, _ in sh.ran) == 1
    assert {missing[i.name].reason for i in d.CLUSTER_ITEMS} == {"API down"}
    assert len(files) == len(d.UNITS) + 1
    assert all(any(a.startswith("--request-timeout=") for a in i.command) for i in d.CLUSTER_ITEMS)


def test_a_kubelet_that_does_not_answer_fails_one_pods_logs_not_the_api():
    listing = pods(pod("addons", "a-0", "False"), pod("addons", "b-0", "False"))
    kubelet = RemoteFailed(
        'Error from server: Get "https://192.168.56.11:10250/containerLogs/addons/a-0/app": '
        "dial tcp 192.168.56.11:10250: connect: connection refused"
    )
    sh = FakeShell([("-o json", listing), ("logs 'a-0'", kubelet), ("logs a-0", kubelet)])
    files, missing = by_name(d.run_items(d.CLUSTER_ITEMS, sh))
    assert missing["cluster/pods/addons/a-0/logs.txt"].reason == "failed"
    assert "cluster/pods/addons/b-0/logs.txt" in files and len(missing) == 1


def test_a_timeout_and_an_unexpected_error_are_recorded_and_the_rest_runs():
    sh = FakeShell(
        [
            ("journal-kubelet", RuntimeError("never")),
            ("journal.sh kubelet", RemoteFailed("cp1: a command did not end in 60 s")),
            ("journal.sh containerd", ValueError("a socket said something odd")),
        ]
    )
    files, missing = by_name(d.run_items(d.node_items("cp1", SINCE), sh))
    assert missing["nodes/cp1/journal-kubelet.log"].reason == "timeout"
    assert missing["nodes/cp1/journal-containerd.log"].reason == "failed"
    assert "ValueError" in missing["nodes/cp1/journal-containerd.log"].detail
    assert set(files) == {
        "nodes/cp1/journal-docker.log",
        "nodes/cp1/journal-sshd.log",
        "nodes/cp1/failed-units.txt",
    }


def test_a_shell_that_cannot_be_opened_is_recorded_for_each_item():
    @contextlib.contextmanager
    def no_inventory():
        raise UsageError("no inventory at /state/hosts.yml")
        yield

    got = d.collect_node(d.node_items("w1", SINCE), no_inventory)
    assert got.files == [] and {m.reason for m in got.missing} == {"no connection"}


def pods(*entries: dict) -> str:
    return json.dumps({"items": list(entries)})


def pod(ns: str, name: str, ready: str, restarts: int = 0, phase: str = "Running") -> dict:
    return {
        "metadata": {"namespace": ns, "name": name},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [
                {"name": "app", "restartCount": restarts},
                {"name": "side car", "restartCount": 0},
            ],
        },
    }


def test_pods_not_ready_are_described_and_logged_previous_logs_when_restarted():
    listing = pods(
        pod("addons", "mysql-0", "False", restarts=3),
        pod("addons", "zipkin-1", "True"),
        pod("kube-system", "job-x", "False", phase="Succeeded"),
        pod("addons", "odd;name", "False"),
    )
    sh = FakeShell([("get pods -A -o json", listing)])
    files, missing = by_name(d.run_items(d.CLUSTER_ITEMS, sh))
    assert {
        "cluster/pods/addons/mysql-0/describe.txt",
        "cluster/pods/addons/mysql-0/logs.txt",
        "cluster/pods/addons/mysql-0/previous-app.txt",
        "cluster/pods/addons/odd_name/describe.txt",
    } <= set(files)
    assert not any("zipkin" in n or "job-x" in n or "previous-side" in n for n in files)
    assert "cluster/pods-not-ready" not in files and not missing
    assert any("describe pod 'odd;name'" in c for c, _ in sh.ran)  # quoted for the shell
    assert any(f"--previous --tail={d.LOG_LINES}" in c and "-c app" in c for c, _ in sh.ran)


def test_more_pods_than_the_cap_are_named_in_the_index():
    listing = pods(*(pod("addons", f"p{i}", "False") for i in range(d.MAX_PODS + 2)))
    files, missing = by_name(d.run_items(d.CLUSTER_ITEMS, FakeShell([("-o json", listing)])))
    assert len({n.rsplit("/", 1)[0] for n in files if n.startswith("cluster/pods/")}) == d.MAX_PODS
    note = missing["cluster/pods-not-ready"]
    assert note.reason == "over the cap" and f"p{d.MAX_PODS + 1}" in note.detail


def test_unreadable_pod_listing_is_recorded():
    files, missing = by_name(d.run_items(d.CLUSTER_ITEMS, FakeShell([("-o json", "not json")])))
    assert missing["cluster/pods-not-ready"].reason == "failed"
    assert "cluster/nodes.txt" in files


def event(counter: int, kind: str, **data) -> dict:
    return {"counter": counter, "event": kind, "event_data": {"host": "w1", **data}}


def write_run(runs: Path, name: str, events: list[dict], verify: str | None = None) -> Path:
    run = runs / name
    folder = run / "ansible-kubeadm" / "artifacts" / "abc" / "job_events"
    folder.mkdir(parents=True)
    for e in events:
        (folder / f"{e['counter']}-{secrets.token_hex(4)}.json").write_text(json.dumps(e))
    if verify is not None:
        (run / "verify.json").write_text(verify)
    return run


def test_the_newest_runs_failed_events_and_verify_json_are_kept(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "20261201T010000.000000Z-up", [event(9, "runner_on_failed")])
    newest = write_run(
        runs,
        "20261201T020000.000000Z-rebuild",
        [
            event(1, "runner_on_ok"),
            event(2, "runner_on_failed", task="join", res={"msg": "token: abc"}),
            event(3, "runner_on_failed", ignore_errors=True),
            event(4, "runner_on_unreachable"),
        ],
        verify='[{"addon": "mysql"}]',
    )
    (runs / "20261201T030000.000000Z-diagnose").mkdir()  # diagnose's own: never the run
    (runs / "latest").symlink_to(newest.name)
    assert d.newest_run(runs) == newest
    files, missing = by_name(d.run_evidence(newest))
    kept = [json.loads(v)["counter"] for n, v in files.items() if n.startswith("ansible/")]
    assert kept == [2, 4]
    assert files["verify.json"] == b'[{"addon": "mysql"}]'
    assert not missing
    assert d.newest_run(tmp_path / "none") is None
    assert d.run_evidence(None).missing[0].reason == "no run"


def test_failed_events_over_the_cap_are_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(d, "MAX_EVENTS", 2)
    run = write_run(tmp_path, "r-up", [event(i, "runner_on_failed") for i in range(5)])
    files, missing = by_name(d.run_evidence(run))
    assert len([n for n in files if n.startswith("ansible/")]) == 2
    assert missing["ansible"].reason == "over the cap" and "5 failed" in missing["ansible"].detail
    assert missing["verify.json"].reason == "not present"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_half_made_lab_gives_an_archive_with_every_failure_recorded(
    lab, write_config, tmp_path, monkeypatch
):
    """Real inventory, real SSH: cp1 and w1 at a closed port (unreachable), w2's key
    gone (no connection); a failed task's event whose output held a credential."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config_path = write_config(lab)
    inv, config = resolve_inventory(str(config_path)), load(config_path)
    state = inv.state_dir
    (state / "secrets").mkdir(parents=True)
    (state / "secrets" / "addons.json").write_text('{"mysql-password": "Xk2mW9pQ4rT7vY1z"}')
    key = tmp_path / "id"
    key.write_text("not a key\n")
    (state / "known_hosts").write_text("")
    port = closed_port()
    eps = {n.name: SshEndpoint("127.0.0.1", port, "vagrant", str(key)) for n in config.nodes}
    w2 = config.workers[-1].name
    eps[w2] = SshEndpoint("127.0.0.1", port, "vagrant", str(tmp_path / "no-such-key"))
    write_inventory(inv.hosts_file, config, eps, state / "known_hosts")
    failed = event(7, "runner_on_failed", res={"stderr": "mysql -pXk2mW9pQ4rT7vY1z: denied"})
    write_run(state / "runs", "20261201T020000.000000Z-up", [failed])

    log = RunLog(state, "diagnose")
    path = d.Diagnose(inv, config, log).run(since=SINCE)

    assert path.parent == state / "diagnostics" and path.name.startswith("diagnostics-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "diagnostics").stat().st_mode) == 0o700
    with tarfile.open(path) as tar:
        root = tar.getnames()[0].split("/")[0]
        index = json.load(tar.extractfile(f"{root}/diagnostics.json"))
        texts = [tar.extractfile(m).read() for m in tar.getmembers()]
    assert not any(b"Xk2mW9pQ4rT7vY1z" in t for t in texts)
    assert index["run"] == "20261201T020000.000000Z-up" and index["redactions"] == 1
    assert [f["name"] for f in index["files"]] == [
        "ansible/ansible-kubeadm/" + next(p.name for p in (state / "runs").rglob("7-*.json"))
    ]
    reasons = {m["name"]: m["reason"] for m in index["not_collected"]}
    _, w1, w2 = (n.name for n in config.nodes)
    assert reasons["cluster/nodes.txt"] == "node unreachable"
    assert reasons[f"nodes/{w1}/journal-kubelet.log"] == "node unreachable"
    assert reasons[f"nodes/{w2}/journal-kubelet.log"] == "no connection"
    assert reasons["verify.json"] == "not present"
    assert index["since"] == SINCE.isoformat() and index["seconds"] >= 0


def test_the_cli_writes_into_out_and_prints_the_path(lab, write_config, tmp_path):
    config_path = write_config(lab)
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    out = tmp_path / "evidence"
    done = provision("diagnose", "-i", str(config_path), "--out", str(out), env=env)
    written = list(out.iterdir())
    assert len(written) == 1 and stat.S_IMODE(written[0].stat().st_mode) == 0o600
    assert f"diagnostics written: {written[0]}" in done.stdout
    with tarfile.open(written[0]) as tar:
        index = json.load(tar.extractfile(tar.getnames()[0]))
    assert {m["reason"] for m in index["not_collected"]} >= {"no connection", "no run"}
