"""The cluster's certificates: when they expire, and `provision certs renew`.

kubeadm's certificates are valid one year: a lab kept longer stops answering. The
expiry is read on the nodes themselves: `kubeadm certs check-expiration` on the
control plane (its certificates, the kubeconfigs' embedded ones and the CAs), and
each node's kubelet client certificate (rotated by the kubelet, so it is seen, not
renewed here). Only dates cross the wire, never a key.

Renewal is kubeadm's own: `kubeadm certs renew all`, then the control plane's static
pods restarted so they load the new files (their manifests moved out of the kubelet's
directory and back), the admin kubeconfig fetched again, and the lab verified.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from provision.config.model import ClusterConfig
from provision.errors import NodeStepFailed
from provision.files import write_state
from provision.project import Inventory
from provision.remote import NodeShell, kubectl, shells
from provision.runlog import RunLog
from provision.shared import ADMIN_KUBECONFIG

WARN_DAYS = 30
KUBELET_CLIENT = "/var/lib/kubelet/pki/kubelet-client-current.pem"
MANIFESTS = "/etc/kubernetes/manifests"
STATIC = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


class CertsFailed(NodeStepFailed):
    """Reading or renewing the cluster's certificates failed."""


@dataclass(frozen=True)
class Expiry:
    node: str
    name: str  # kubeadm's name (apiserver, admin.conf, ca, ...) or "kubelet client"
    not_after: datetime

    @property
    def days_left(self) -> float:
        return (self.not_after - datetime.now(UTC)).total_seconds() / 86400

    def as_dict(self) -> dict:
        return {
            "node": self.node,
            "name": self.name,
            "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_left": round(self.days_left, 1),
        }


def parse_kubeadm(node: str, text: str) -> list[Expiry]:
    """`kubeadm certs check-expiration -o json`: its certificates and CAs, except
    those it says are missing or managed outside kubeadm."""
    data = json.loads(text)
    found = []
    for item in [*data.get("certificates", []), *data.get("certificateAuthorities", [])]:
        if item.get("missing") or item.get("externallyManaged") or not item.get("expirationDate"):
            continue
        when = datetime.strptime(item["expirationDate"], "%Y-%m-%dT%H:%M:%SZ")
        found.append(Expiry(node, str(item["name"]), when.replace(tzinfo=UTC)))
    return found


def parse_openssl(node: str, name: str, text: str) -> Expiry:
    """`openssl x509 -noout -enddate`: notAfter=Dec  2 20:58:42 2027 GMT."""
    value = " ".join(text.strip().split("=", 1)[-1].split())
    when = datetime.strptime(value, "%b %d %H:%M:%S %Y %Z")
    return Expiry(node, name, when.replace(tzinfo=UTC))


def _on_node(sh: NodeShell, node: str, control_plane: bool) -> list[Expiry]:
    found = [
        parse_openssl(
            node,
            "kubelet client",
            sh(["openssl", "x509", "-noout", "-enddate", "-in", KUBELET_CLIENT], timeout=30),
        )
    ]
    if control_plane:
        found += parse_kubeadm(
            node, sh(["kubeadm", "certs", "check-expiration", "-o", "json"], timeout=60)
        )
    return found


def expiries(inv: Inventory, config: ClusterConfig, nodes: list[str] | None = None) -> list[Expiry]:
    """Every certificate's expiry on these nodes (all by default), earliest first;
    the nodes are asked side by side."""
    names = nodes if nodes is not None else [n.name for n in config.nodes]
    cp = config.control_plane.name
    with (
        shells(inv, {n: n for n in names}, CertsFailed) as sh,
        ThreadPoolExecutor(max_workers=max(1, len(names))) as pool,
    ):
        found = [e for part in pool.map(lambda n: _on_node(sh[n], n, n == cp), names) for e in part]
    return sorted(found, key=lambda e: e.not_after)


def summary(found: list[Expiry]) -> dict:
    """The earliest expiry, and whether it is within WARN_DAYS."""
    if not found:
        return {"earliest": None, "warn": False}
    first = found[0]
    return {"earliest": first.as_dict(), "warn": first.days_left < WARN_DAYS}


def describe(found: list[Expiry]) -> str:
    """One line: the earliest certificate to expire, and the warning under WARN_DAYS."""
    if not found:
        return "certificates: none read"
    first = found[0]
    line = (
        f"certificates: earliest expiry {first.not_after:%Y-%m-%d %H:%M} UTC "
        f"({first.days_left:.0f} days: {first.name} on {first.node})"
    )
    if first.days_left < WARN_DAYS:
        line += f"; under {WARN_DAYS} days: run `provision certs renew`"
    return line


def listening(proc_net_tcp: str, ports: tuple[int, ...]) -> bool:
    """Whether /proc/net/tcp{,6}'s text has a socket listening (state 0A) on one of
    the ports."""
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A" or ":" not in fields[1]:
            continue
        try:
            if int(fields[1].rsplit(":", 1)[1], 16) in ports:
                return True
        except ValueError:
            continue
    return False


def _restart_static_pods(sh: NodeShell, say, timeout: float) -> None:
    """Move the control plane's static pod manifests out of the kubelet's directory
    until their containers are gone (the API server's port closes), then back."""
    aside = "/etc/kubernetes/provision-manifests-aside"
    names = [f"{name}.yaml" for name in STATIC]
    sh(["mkdir", "-p", aside], timeout=30)
    sh(["mv", "-t", aside, "--", *(f"{MANIFESTS}/{n}" for n in names)], timeout=30)
    try:
        # the API server and etcd close their ports once the kubelet stops them
        stopped = time.monotonic() + 120
        while listening(sh(["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout=30), (6443, 2379)):
            if time.monotonic() > stopped:
                raise CertsFailed("the API server or etcd still listened 120 s after their stop")
            time.sleep(1)
    finally:
        sh(["mv", "-t", MANIFESTS, "--", *(f"{aside}/{n}" for n in names)], timeout=30)
        sh(["rmdir", aside], timeout=30)
    say("certs: control-plane static pods stopped; started again with the new certificates")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sh(kubectl("get", "--raw", "/readyz"), timeout=30).strip() == "ok":
                break
        except CertsFailed:
            pass
        time.sleep(3)
    else:
        raise CertsFailed(
            f"the API server did not answer {timeout:.0f} s after its restart\n"
            "  fix: `provision diagnose` collects why; `provision certs renew` runs again"
        )


def renew(inv: Inventory, config: ClusterConfig, log: RunLog, timeout: float) -> tuple:
    """`kubeadm certs renew all` on the control plane, its static pods restarted, the
    admin kubeconfig fetched again; (earliest before, earliest after)."""
    cp = config.control_plane.name
    before = expiries(inv, config, [cp])
    log.say(describe(before))
    with shells(inv, {cp: cp}, CertsFailed) as sh:
        out = sh[cp](["kubeadm", "certs", "renew", "all"], timeout=300)
        for line in out.splitlines():
            if "renewed" in line:
                log.write("  " + line)
        log.say("certs: kubeadm certs renew all: done")
        _restart_static_pods(sh[cp], log.say, timeout)
        # the admin kubeconfig embeds a client certificate that was renewed too
        write_state(inv.state_dir / "kubeconfig", sh[cp](["cat", ADMIN_KUBECONFIG]))
        log.say(f"certs: admin kubeconfig fetched again to {inv.state_dir / 'kubeconfig'} (0600)")
    after = expiries(inv, config, [cp])
    kubeadm_before = [e for e in before if e.name != "kubelet client"]
    kubeadm_after = [e for e in after if e.name != "kubelet client"]
    if kubeadm_after[0].not_after <= kubeadm_before[0].not_after:
        raise CertsFailed(
            f"the earliest kubeadm certificate still expires {kubeadm_after[0].not_after} "
            "after renewal\n  fix: see the log; run `provision certs renew` again"
        )
    stamp = "%Y-%m-%d %H:%M:%S"
    log.say(
        f"certs: kubeadm's earliest expiry moved from {kubeadm_before[0].not_after:{stamp}} "
        f"to {kubeadm_after[0].not_after:{stamp}} UTC ({kubeadm_after[0].name})"
    )
    log.say(describe(after))
    return before, after
