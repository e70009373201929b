"""Putting each part of a backup back: the control plane's etcd and PKI, the nodes' trust in
it, and the add-ons' data.

etcd is restored the kubeadm way, by one script on the control plane run as a
systemd unit (so a dropped SSH session or a killed `provision` does not stop it
half-way, and running it again finishes it):

    1. the static pods are stopped: their manifests move out of
       /etc/kubernetes/manifests, and the script waits until etcd and the API
       server no longer listen;
    2. what is there is kept in /var/lib/provision/restore/before (the PKI as a
       tar, etcd's data dir moved whole), until the restore is done;
    3. `etcdutl snapshot restore` writes the snapshot into a fresh data dir,
       which then takes /var/lib/etcd's place (the manifests keep pointing at
       /var/lib/etcd; a marker file records the swap, so a second run never
       swaps twice);
    4. the backup's PKI (and, on a running control plane, its kubeconfigs) is
       put in /etc/kubernetes;
    5. the manifests move back and the kubelet starts the control plane on the
       restored data.

On a control plane made again (`node reset|replace cp1`) nothing runs yet:
steps 2-4 put the data and certificates in place, and the control-plane phase's
`kubeadm init` starts the control plane on them (it uses existing certificates,
and is told that /var/lib/etcd is not empty).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Collection, Mapping
from typing import BinaryIO

from provision.addons.manifests import NAMESPACE
from provision.addons.registry import ADDONS
from provision.backup.stream import Parts
from provision.config.model import ClusterConfig
from provision.errors import DataGuard
from provision.node_scripts import SCRIPT_DIR
from provision.remote import RUN, NodeShell, RemoteFailed, Shell, api, kubectl
from provision.runlog import RunLog

NODE_DIR = "/var/lib/provision/restore"
UNIT = "provision-restore"
DATA_DIR = "/var/lib/provision/addon-data"  # add-on data on its way into a pod
KUBEADM_CONFIG = "/etc/kubernetes/provision/kubeadm-config.yaml"
# What a lab made by `provision up` holds; anything else is the cluster's own.
# The join phase's pod-network probe (role cluster_probe, cluster_probe_namespace):
# deleted without waiting, so it may still be terminating right after `up`.
PROBE_NAMESPACE = "provision-probe"
BASE_NAMESPACES = {
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    NAMESPACE,
    PROBE_NAMESPACE,
}
BASE_DEFAULT_OBJECTS = {"service/kubernetes", "configmap/kube-root-ca.crt"}


class RestoreFailed(DataGuard):
    """A restore step failed on a node; running the same command again resumes it."""


class ControlPlaneData:
    """etcd's snapshot and the PKI, put in place on the control plane."""

    def __init__(self, sh: NodeShell, config: ClusterConfig, log: RunLog):
        self.sh = sh
        self.config = config
        self.log = log

    def restore(self, parts: Parts, running: bool, moved: bool = False) -> None:
        """moved: a running control plane at addresses other than the backup's (see
        Readdress)."""
        self.upload(parts)
        self.swap("moved" if moved else "running" if running else "fresh")
        if running or moved:
            self.wait_api()

    def upload(self, parts: Parts) -> None:
        """etcd's snapshot and the PKI onto the control plane, each streamed from the
        checked parts and checked again there by its sha256."""
        sh = self.sh
        self.wait_unit()
        try:
            sh(["etcdutl", "version"])
        except RemoteFailed:
            raise RestoreFailed(
                f"etcdutl is not on {self.config.control_plane.name}\n"
                "  fix: `provision up --only kubernetes` installs it from the bundle"
            ) from None
        # The node's copy belongs to one snapshot: another one's (a restore left
        # unfinished with another archive) goes, with its marker, before anything.
        key = parts.sha256("etcd/snapshot.db")
        if sh(["cat", f"{NODE_DIR}/for"], check=False).strip() != key:
            sh(["rm", "-rf", "--", NODE_DIR])
        sh(["mkdir", "-p", "-m", "0700", NODE_DIR])
        sh(["chmod", "0700", NODE_DIR])
        sh.put(f"{key}\n".encode(), f"{NODE_DIR}/for")
        for name, node_file in (
            ("etcd/snapshot.db", "snapshot.db"),
            ("pki/kubernetes.tar.gz", "pki.tar.gz"),
        ):
            path = f"{NODE_DIR}/{node_file}"
            with parts.open(name) as data:
                sh.put(data, path)
            got = sh(["sha256sum", "--", path]).split()[0]
            if got != parts.sha256(name):
                raise RestoreFailed(f"{path} on the control plane does not match the backup")
        status = json.loads(
            sh(["etcdutl", "snapshot", "status", f"{NODE_DIR}/snapshot.db", "-w", "json"])
        )
        self.log.say(
            f"restore: etcd snapshot: revision {status.get('revision')}, "
            f"{status.get('totalKey')} keys, {status.get('totalSize')} bytes"
        )

    def swap(self, mode: str) -> None:
        """Run the node script as a systemd unit and wait for it; a unit left
        running by a killed earlier run is waited for first (the script is safe
        to run again)."""
        sh = self.sh
        self.wait_unit()
        node = self.config.control_plane
        try:
            sh(
                [
                    *("systemd-run", "--quiet", "--wait", "--collect", "--unit", UNIT),
                    *("--property=KillMode=process", "/bin/bash", f"{SCRIPT_DIR}/restore-etcd.sh"),
                    *(node.name, str(node.ip), mode),
                ]
            )
        except RemoteFailed:
            tail = sh(["tail", "-n", "15", f"{NODE_DIR}/restore.log"], check=False)
            raise RestoreFailed(
                f"the restore script failed on {node.name}:\n{tail}\n"
                f"  fix: see {NODE_DIR}/restore.log there, then run the same command "
                "again (it resumes)"
            ) from None
        self.log.say(f"restore: etcd and the PKI are the backup's on {node.name}")

    def wait_unit(self) -> None:
        """A restore unit a killed earlier run left running is let finish first."""
        for _ in range(150):
            state = self.sh(["systemctl", "is-active", UNIT], check=False).strip()
            if state not in ("active", "activating", "deactivating"):
                return
            time.sleep(2)
        raise RestoreFailed(f"{UNIT} still runs on the control plane after 300 s")

    def wait_api(self, seconds: int = 300) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if self.sh(kubectl("get", "--raw", "/readyz")).strip() == "ok":
                    self.log.say("restore: the API server is ready")
                    return
            except RemoteFailed:
                pass
            if time.monotonic() > deadline:
                raise RestoreFailed(
                    f"the API server was not ready {seconds} s after the restore\n"
                    f"  fix: see {NODE_DIR}/restore.log and `crictl ps -a` on "
                    f"{self.config.control_plane.name}"
                )
            time.sleep(3)

    def cleanup(self) -> None:
        self.sh(["rm", "-rf", "--", NODE_DIR])


class Readdress:
    """A backup restored onto a lab at other node addresses (an upgrade rehearsal's
    copy): the node script made the certificates that name an address and the
    kubeconfigs again; what the cluster itself holds about the control plane's
    address is then written again from this lab's kubeadm config and Calico manifest,
    before any kubelet or controller uses it: kubeadm's ClusterConfiguration
    (controlPlaneEndpoint), `kube-public/cluster-info`, kube-proxy's kubeconfig, and
    Calico's API endpoint and address autodetection (calico-node then records each
    node's new address in its Node resource)."""

    # kubeadm's phases, each with the object it only creates when missing (deleted
    # first, so it is written again for this address)
    PHASES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
        (("upload-config", "kubeadm"), ()),
        (("bootstrap-token",), ("-n", "kube-public", "configmap", "cluster-info")),
        (("addon", "kube-proxy"), ("-n", "kube-system", "configmap", "kube-proxy")),
    )

    def __init__(self, cp: NodeShell, calico_manifest: bytes, log: RunLog):
        self.cp = cp
        self.calico = calico_manifest
        self.log = log

    def run(self) -> None:
        for phase, stale in self.PHASES:
            if stale:
                api(self.cp, kubectl("delete", *stale, "--ignore-not-found"))
            api(self.cp, ["kubeadm", "init", "phase", *phase, "--config", KUBEADM_CONFIG])
        path = f"{NODE_DIR}/calico.yaml"
        self.cp.put(self.calico, path)
        api(self.cp, kubectl("apply", "--server-side", "--force-conflicts", "-f", path))
        self.log.say(
            "restore: the cluster points at this lab's control-plane address (kubeadm's "
            "config, cluster-info, kube-proxy, Calico)"
        )


class Trust:
    """Every node's kubelet reconnects to the restored control plane, without a
    rejoin. One whose kubelet trusts another CA than the restored one (a cluster
    made again since the backup) first gets the restored CA and a kubelet
    kubeconfig signed by it. Every kubelet, then the system's controllers, are
    restarted: etcd's revisions went back to the snapshot's, and a watch that
    began after it would not see changes until it lists again (measured: a
    kubelet not restarted never started a pod scheduled after the restore)."""

    def __init__(self, cp: NodeShell, config: ClusterConfig, log: RunLog):
        self.cp = cp
        self.config = config
        self.log = log

    @staticmethod
    def ca_of(sh: Shell) -> str:
        """The sha256 of the CA the node's kubelet kubeconfig trusts."""
        return kubeconfig_ca(sh(["cat", "/etc/kubernetes/kubelet.conf"]))

    def run(self, shells: Mapping[str, NodeShell]) -> list[str]:
        ca = self.cp(["cat", "/etc/kubernetes/pki/ca.crt"])
        want = hashlib.sha256(ca.encode()).hexdigest()
        changed = []
        for name, sh in shells.items():
            if self.ca_of(sh) == want:
                continue
            kubeconfig = self.cp(
                [
                    *("kubeadm", "kubeconfig", "user", "--config", KUBEADM_CONFIG),
                    *("--client-name", f"system:node:{name}", "--org", "system:nodes"),
                ]
            )
            sh.put(kubeconfig.encode(), "/etc/kubernetes/kubelet.conf", 0o600)
            sh.put(ca.encode(), "/etc/kubernetes/pki/ca.crt", 0o644)
            sh(
                [
                    *("find", "/var/lib/kubelet/pki", "-maxdepth", "1"),
                    *("-name", "kubelet-client-*.pem", "-delete"),
                ]
            )
            changed.append(name)
            self.log.say(f"restore: {name}'s kubelet now trusts the restored CA")
        for sh in shells.values():
            sh(["systemctl", "restart", "kubelet"])
        self.log.say(f"restore: kubelets restarted on {', '.join(shells)}")
        return changed

    def restart_system(self, seconds: int = 300) -> None:
        """kube-system's daemon sets and deployments (kube-proxy, Calico, CoreDNS)
        restarted, so that their watches start from the restored data too."""
        ns = kubectl("-n", "kube-system")
        api(self.cp, [*ns, "rollout", "restart", "daemonset,deployment"])
        for kind in ("daemonset", "deployment"):
            for name in api(self.cp, [*ns, "get", kind, "-o", "name"]).split():
                api(self.cp, [*ns, "rollout", "status", name, "--timeout", f"{seconds}s"])
        self.log.say("restore: kube-system's daemon sets and deployments restarted")

    def wait_nodes(self, seconds: int = 300) -> None:
        api(
            self.cp,
            kubectl("wait", "node", "--all", "--for=condition=Ready", f"--timeout={seconds}s"),
        )
        self.log.say("restore: every node is Ready")


class AddonData:
    """MySQL's dump and RabbitMQ's definitions, loaded into the running add-ons."""

    def __init__(self, cp: NodeShell, log: RunLog):
        self.cp = cp
        self.log = log

    def restore(
        self, parts: Parts, root_password: str = "", only: Collection[str] | None = None
    ) -> None:
        """Load the add-on parts of `parts` (those in `only`, when given), each streamed
        from the archive's spool to the control plane, never held whole here."""
        wanted = [p for p in parts if only is None or p in only]
        for addon in ADDONS:
            for data in addon.data:
                if data.path not in wanted:
                    continue
                self.wait_ready(data.pod)
                load = addon.script(data.load)
                with parts.open(data.path) as source:
                    if data.password:
                        self._exec(data.pod, load, root_password.encode() + b"\n", source)
                    else:
                        self._exec(data.pod, load, source)
                self.log.say(f"restore: {data.path}: {parts.size(data.path)} bytes loaded")

    def wait_ready(self, pod: str, seconds: int = 600) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.cp(
                    [
                        *kubectl("-n", NAMESPACE, "wait", f"pod/{pod}", "--for=condition=Ready"),
                        "--timeout=30s",
                    ]
                )
                return
            except RemoteFailed as e:
                if time.monotonic() > deadline:
                    raise RestoreFailed(
                        f"{pod} was not Ready {seconds} s after the restore: {e}\n"
                        f"  fix: `provision kubectl -- -n {NAMESPACE} describe pod {pod}`"
                    ) from None
                time.sleep(5)

    def _exec(self, pod: str, script: str, *sources: bytes | BinaryIO) -> None:
        """Run `script` in the pod with the sources, one after another, on its stdin:
        each goes to a root-only file on the control plane first (a file is streamed),
        all removed whatever happens."""
        paths = [f"{DATA_DIR}/{pod}.in.{i}" for i in range(len(sources))]
        self.cp(["mkdir", "-p", "-m", "0700", DATA_DIR])
        exec_ = kubectl("-n", NAMESPACE, "exec", "-i", pod, "--", "sh", "-c", script)
        try:
            for source, path in zip(sources, paths, strict=True):
                self.cp.put(source, path)
            # both loads can run again: the dump drops and recreates its tables,
            # importing definitions twice gives the same definitions
            inputs = [a for path in paths for a in ("--input", path)]
            self.cp([RUN, "--tries", "6", *inputs, "--", *exec_], timeout=900)
        finally:
            self.cp(["rm", "-f", "--", *paths])


def own_objects(cp: Shell) -> list[str]:
    """What a cluster holds that `provision up` did not make: namespaces of its
    own, and objects in `default`."""
    names = cp(kubectl("get", "namespaces", "-o", "name")).split()
    found = [n for n in names if n.removeprefix("namespace/") not in BASE_NAMESPACES]
    kinds = "configmaps,secrets,services,deployments,statefulsets,daemonsets,pods,pvc,jobs"
    objects = cp(kubectl("-n", "default", "get", kinds, "-o", "name")).split()
    found += [f"default/{o}" for o in objects if _bare(o) not in BASE_DEFAULT_OBJECTS]
    return found


def kubeconfig_ca(text: str) -> str:
    """The sha256 of the CA certificate a kubeconfig holds inline (its first
    cluster's certificate-authority-data), "" when it holds none."""
    import yaml

    try:
        clusters = yaml.safe_load(text).get("clusters") or []
        data = clusters[0]["cluster"]["certificate-authority-data"]
        return hashlib.sha256(base64.b64decode(data)).hexdigest()
    except (yaml.YAMLError, AttributeError, LookupError, TypeError, ValueError):
        return ""


def _bare(name: str) -> str:
    """service/kubernetes from service/kubernetes or from services/kubernetes."""
    kind, _, rest = name.partition("/")
    return f"{kind.split('.')[0]}/{rest}"
