"""The scripts provision runs on nodes are files that pass ShellCheck, and the
restore's MySQL script really loads a dump with the first password MySQL takes
(here against a stand-in `mysql` on PATH that records what it got)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provision.addons.registry import ADDONS, by_name
from provision.node_scripts import NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "provision"
SCRIPTS = sorted((*PACKAGE.glob("node_scripts/*.sh"), *PACKAGE.glob("addons/*/*.sh")))


def test_every_script_is_named_by_its_reader():
    named = {PACKAGE / "node_scripts" / n for n in NAMES} | {
        PACKAGE / "addons" / a.name / d.load for a in ADDONS for d in a.data
    }
    assert set(SCRIPTS) == named


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_script_passes_shellcheck(path):
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed: scripts/host-setup-tests installs it")
    run = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_mysql_load_uses_the_password_mysql_accepts(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    got = tmp_path / "got"
    # a stand-in mysql: accepts only the password "lab", records the statements
    (bin_dir / "mysql").write_text(
        "#!/bin/sh\n"
        '[ "$MYSQL_PWD" = lab ] || exit 1\n'
        'case "$*" in *"-e SELECT 1"*) exit 0;; esac\n'
        f"cat >> {got}\n"
    )
    (bin_dir / "mysql").chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"

    def load(pod_password: str, stdin: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": path, "MYSQL_ROOT_PASSWORD": pod_password}
        return subprocess.run(
            ["sh", "-c", by_name("mysql").script("load.sh")],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
        )

    run = load("pod", "lab\nCREATE TABLE t (i INT);\n")
    assert run.returncode == 0, run.stderr
    assert got.read_text() == "CREATE TABLE t (i INT);\nFLUSH PRIVILEGES;\n"
    refused = load("wrong", "also-wrong\n")
    assert refused.returncode == 1 and "neither" in refused.stderr


def test_the_journal_script_reads_a_unit_under_its_own_name_and_notes_a_missing_one(tmp_path):
    """journal.sh as `provision diagnose` runs it, with systemctl and journalctl stood
    in: Debian's sshd.service is an alias of ssh.service, whose journal is read."""
    from .local_node import LocalShell, stand_in

    bin_dir = tmp_path / "bin"
    stand_in(
        bin_dir,
        "systemctl",
        'case "$*" in *LoadState*nothere.service) echo not-found;; *LoadState*) echo loaded;;\n'
        '*"Id --value -- sshd.service") echo ssh.service;; *) echo "${5}";; esac\n',
    )
    stand_in(bin_dir, "journalctl", 'echo "journal of $*"; seq 1 1000\n')
    sh = LocalShell(bin_dir)
    journal = "/usr/local/lib/provision/journal.sh"
    out = sh([journal, "sshd", "1764000000", "40", "NO UNIT"])
    assert len(out) == 40 and out.endswith("1000\n")
    head = sh([journal, "sshd", "1764000000", "100000", "NO UNIT"]).splitlines()[0]
    assert head == "journal of -u ssh.service --since @1764000000 --no-pager -o short-iso"
    assert sh([journal, "nothere", "1", "10", "NO UNIT"]) == "NO UNIT\n"


def test_the_failed_units_script_shows_each_failed_unit_with_its_status(tmp_path):
    """failed-units.sh as `provision diagnose` runs it, with systemctl stood in."""
    from .local_node import LocalShell, stand_in

    bin_dir = tmp_path / "bin"
    stand_in(
        bin_dir,
        "systemctl",
        'case "$1" in is-system-running) echo "$STATE";;\n'
        'list-units) printf "%s" "$FAILED";;\n'
        'status) shift $(($# - 1)); echo "status of $1";; esac\n',
    )
    script = "/usr/local/lib/provision/failed-units.sh"
    degraded = LocalShell(
        bin_dir,
        env={"STATE": "degraded", "FAILED": "a.mount loaded failed failed A\nb.service x\n"},
    )
    out = degraded([script, "100000"])
    assert out.splitlines() == [
        "systemctl is-system-running: degraded",
        "",
        "status of a.mount",
        "",
        "status of b.service",
    ]
    assert len(degraded([script, "20"])) == 20
    running = LocalShell(bin_dir, env={"STATE": "running", "FAILED": ""})
    assert running([script, "1000"]).splitlines()[1] == "no failed units"


def test_the_role_installs_the_runner_provision_installs():
    role = PACKAGE.parent / "playbooks" / "roles" / "kube_packages" / "files" / "provision-run.sh"
    assert role.is_symlink() and role.resolve() == (PACKAGE / "node_scripts" / "provision-run.sh")


def test_a_node_command_is_argv_never_a_shell_string():
    from provision.remote import NodeShell

    sh = NodeShell(None, "cp1", "root", RuntimeError, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="argv"):
        sh("kubectl get nodes")


def test_the_ca_a_kubeconfig_trusts_is_read_from_its_yaml():
    import base64
    import hashlib

    from provision.backup.put import kubeconfig_ca

    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    text = (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {base64.b64encode(ca).decode()}\n"
        "    server: https://192.168.56.10:6443\n  name: lab\n"
    )
    assert kubeconfig_ca(text) == hashlib.sha256(ca).hexdigest()
    assert kubeconfig_ca("clusters: []\n") == "" and kubeconfig_ca(": :") == ""


def test_a_listening_port_is_read_from_proc_net_tcp():
    from provision.certs import listening

    header = "  sl  local_address rem_address   st tx_queue rx_queue\n"
    api = "   0: 00000000:192B 00000000:0000 0A 00000000:00000000\n"  # 6443, LISTEN
    client = "   1: 0100007F:192B 0100007F:D431 01 00000000:00000000\n"  # ESTABLISHED
    v6 = "   0: 00000000000000000000000000000000:094B 00000000000000000000000000000000:0000 0A\n"
    assert listening(header + api, (6443, 2379))
    assert not listening(header + client, (6443, 2379))
    assert listening(header + v6, (2379,)) and not listening(header + v6, (6443,))


def test_the_newest_run_log_records_each_node_command(tmp_path):
    import logging

    from provision.remote import LOG
    from provision.runlog import RunLog

    first = RunLog(tmp_path / "a", "up")
    second = RunLog(tmp_path / "b", "backup")
    LOG.debug("%s: %s: exit %d in %.1f s", "cp1", "kubectl get nodes", 0, 0.2)
    assert "node: cp1: kubectl get nodes: exit 0 in 0.2 s" in second.path.read_text()
    assert "kubectl" not in first.path.read_text()
    assert len([h for h in LOG.handlers if isinstance(h, logging.Handler)]) == 1


def test_the_static_pod_logs_script_reads_every_start_of_the_newest_pod(tmp_path):
    """static-pod-logs.sh as `provision diagnose` runs it, on a kubelet's log tree:
    the newest pod directory of that component on that node, each start's file in
    start order (10.log after 2.log), the last MAX_BYTES bytes, NO_POD on a node
    without that pod."""
    from .local_node import LocalShell

    pods = tmp_path / "pods"
    old = pods / "kube-system_kube-apiserver-cp1_old" / "kube-apiserver"
    new = pods / "kube-system_kube-apiserver-cp1_new" / "kube-apiserver"
    other = pods / "kube-system_kube-apiserver-cp10_x" / "kube-apiserver"
    for d in (old, other, new):
        d.mkdir(parents=True)
    (old / "0.log").write_text("old pod\n")
    (other / "0.log").write_text("another node's pod\n")
    for n in (0, 2, 10):
        (new / f"{n}.log").write_text(f"start {n}\n")
    os.utime(old, (1, 1))
    sh = LocalShell(tmp_path)
    script = "/usr/local/lib/provision/static-pod-logs.sh"
    out = sh([script, str(pods), "kube-apiserver", "cp1", "100000", "NO POD"])
    lines = out.splitlines()
    assert lines[0] == f"{new}: 3 log file(s), one per start of the container"
    assert [x for x in lines if x.startswith("start")] == ["start 0", "start 2", "start 10"]
    assert [x.split()[1] for x in lines if x.startswith("===")] == ["0.log", "2.log", "10.log"]
    assert "old pod" not in out and "another node" not in out
    assert sh([script, str(pods), "kube-apiserver", "cp1", "9", "NO POD"]) == "start 10\n"
    assert sh([script, str(pods), "etcd", "cp1", "100", "NO POD"]) == "NO POD\n"
