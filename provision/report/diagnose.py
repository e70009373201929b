"""`provision diagnose`: the evidence of a failed or half-made lab in one archive that
outlives it.

What is collected is a table (CLUSTER_ITEMS, node_items, pod_items): each item is a file
in the archive and the command that prints it, run as root on a node over SSH
(kubectl too, with the node's admin kubeconfig; never from the host). Each node is
asked in a thread of its own; every command has a timeout, and a failure is recorded
in the index, never raised: an unreachable node skips the rest of its items, an API
that does not answer skips the rest of the kubectl items, and the others go on.
Beside the nodes: the failed tasks' events of the newest run's ansible-runner
artifacts and that run's verify.json.

Before anything is written every file is redacted (redact: the lab's add-on
credentials, bootstrap tokens, private keys, kubeconfig keys, tokens, passwords),
then capped (cap_tail: its last MAX_FILE bytes), then counted against MAX_TOTAL; the
archive is one 0600 file written through files.private_file, its index first.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.errors import MachinesError, ProvisionError, UsageError
from provision.files import decode_json, private_dir, private_file, read_json, read_small
from provision.node_scripts import SCRIPT_DIR
from provision.project import Inventory
from provision.remote import KUBECTL
from provision.runlog import RunLog

RUN_NAME = "diagnose"  # its run directories are never the run it looks at
DEFAULT_SINCE = timedelta(hours=1)
MAX_FILE = 2 << 20  # one file's bytes in the archive: its tail is kept
MAX_TOTAL = 20 << 20  # every file's bytes together, before compression
MAX_EVENT_READ = 16 << 20  # an event file read whole, then capped like the rest
MAX_EVENTS = 50  # failed/unreachable task events kept
MAX_PODS = 20  # pods not Ready described and logged
LOG_LINES = 300  # kubectl logs --tail
API_WAIT = 20  # kubectl --request-timeout, seconds
DEADLINE = 300  # seconds for all remote collection; later items are skipped
UNITS = ("kubelet", "containerd", "docker", "sshd")
FAILED_EVENTS = ("runner_on_failed", "runner_on_unreachable")
NO_UNIT = "provision-diagnose: no such unit"
NO_POD = "provision-diagnose: no such pod"
# The control plane's static pods, whose logs are read on the node (the API may be
# the one down).
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
PODS_DIR = "/var/log/pods"  # the kubelet's

# A function that runs a command on a node as root and returns its stdout, raising a
# ProvisionError otherwise (remote.NodeShell, or a plain function in tests).
Shell = Callable[..., str]


@dataclass(frozen=True)
class Item:
    """One file to collect: its name in the archive and the command printing it.
    `group` "api" needs the Kubernetes API; `expand` turns the output into more items
    instead of a file (the pods not Ready)."""

    name: str
    command: tuple[str, ...]  # argv
    group: str = "node"
    timeout: int = 60
    expand: Callable[[str], list[Item]] | None = None


@dataclass
class Missing:
    """What could not be collected, and why (node unreachable, API down, timeout,
    no such unit, failed, skipped)."""

    name: str
    reason: str
    detail: str = ""


@dataclass
class Collected:
    files: list[tuple[str, bytes]] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)

    def extend(self, other: Collected) -> None:
        self.files += other.files
        self.missing += other.missing


# --- what to collect -------------------------------------------------------------

JOURNAL = f"{SCRIPT_DIR}/journal.sh"  # provision/node_scripts/journal.sh
FAILED_UNITS = f"{SCRIPT_DIR}/failed-units.sh"  # provision/node_scripts/failed-units.sh
STATIC_POD_LOGS = f"{SCRIPT_DIR}/static-pod-logs.sh"  # provision/node_scripts/
K = (*KUBECTL, f"--request-timeout={API_WAIT}s")
API_TIMEOUT = API_WAIT + 25  # the SSH command's own limit for one kubectl call


def _safe(part: str) -> str:
    """A path component of the archive made from a name found in the cluster or on disk."""
    part = re.sub(r"[^A-Za-z0-9._-]", "_", part)[:120]
    return "_" if part.strip(".") == "" else part


def pod_items(pods_json: str) -> list[Item]:
    """describe and logs of every pod not Ready (`kubectl get pods -A -o json`), and the
    previous logs of each container that restarted; at most MAX_PODS pods."""
    pods = []
    for pod in json.loads(pods_json)["items"]:
        status = pod.get("status") or {}
        ready = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if status.get("phase") == "Succeeded" or ready.get("Ready") == "True":
            continue
        meta = pod["metadata"]
        restarted = [
            c["name"]
            for c in [
                *(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or []),
            ]
            if c.get("restartCount", 0) > 0
        ]
        pods.append((meta["namespace"], meta["name"], restarted))
    items = []
    for ns, name, restarted in pods[:MAX_PODS]:
        where = f"cluster/pods/{_safe(ns)}/{_safe(name)}"
        on = (*K, "-n", ns)
        items += [
            Item(f"{where}/describe.txt", (*on, "describe", "pod", name), "api", API_TIMEOUT),
            Item(
                f"{where}/logs.txt",
                (*on, "logs", name, "--all-containers", "--prefix", f"--tail={LOG_LINES}"),
                "api",
                API_TIMEOUT,
            ),
        ]
        items += [
            Item(
                f"{where}/previous-{_safe(c)}.txt",
                (*on, "logs", name, "-c", c, "--previous", f"--tail={LOG_LINES}"),
                "api",
                API_TIMEOUT,
            )
            for c in restarted
        ]
    if len(pods) > MAX_PODS:
        names = ", ".join(f"{ns}/{name}" for ns, name, _ in pods[MAX_PODS:])
        raise CapReached(items, f"{len(pods)} pods not Ready, {MAX_PODS} kept; not: {names}")
    return items


class CapReached(Exception):
    """An expansion that kept part of what it found: the items kept, and what not."""

    def __init__(self, items: list[Item], detail: str):
        super().__init__(detail)
        self.items = items


# On the control plane, most telling first: nodes answer whether the API does.
CLUSTER_ITEMS = [
    Item("cluster/nodes.txt", (*K, "get", "nodes", "-o", "wide"), "api", API_TIMEOUT),
    Item("cluster/pods.txt", (*K, "get", "pods", "-A", "-o", "wide"), "api", API_TIMEOUT),
    Item(
        "cluster/events.txt",
        (*K, "get", "events", "-A", "--sort-by=.metadata.creationTimestamp"),
        "api",
        API_TIMEOUT,
    ),
    Item(
        "cluster/workloads.txt",
        (*K, "get", "deployments,statefulsets,daemonsets", "-A", "-o", "wide"),
        "api",
        API_TIMEOUT,
    ),
    Item("cluster/nodes-describe.txt", (*K, "describe", "nodes"), "api", API_TIMEOUT),
    Item(
        "cluster/pods-not-ready",
        (*K, "get", "pods", "-A", "-o", "json"),
        "api",
        API_TIMEOUT,
        pod_items,
    ),
]


def node_items(node: str, since: datetime) -> list[Item]:
    """The node's journal of each of UNITS since `since` (a unit the node does not
    have prints NO_UNIT; an alias is read under the unit's own name: Debian's sshd is
    ssh.service, its journal is ssh's), then its failed units with their status. The
    node keeps only the last MAX_FILE + 1 bytes of each: more is marked truncated here."""
    at = int(since.timestamp())
    return [
        Item(
            f"nodes/{_safe(node)}/journal-{unit}.log",
            (JOURNAL, unit, str(at), str(MAX_FILE + 1), NO_UNIT),
        )
        for unit in UNITS
    ] + [Item(f"nodes/{_safe(node)}/failed-units.txt", (FAILED_UNITS, str(MAX_FILE + 1)))]


def static_pod_items(node: str) -> list[Item]:
    """The logs of the control plane's static pods on `node`, each start of each
    container, read from the kubelet's files: an API server that keeps restarting
    cannot serve its own logs (measured on an emulated VM: the kubelet's journal said
    CrashLoopBackOff, nothing said why)."""
    return [
        Item(
            f"nodes/{_safe(node)}/static-pod-{pod}.log",
            (STATIC_POD_LOGS, PODS_DIR, pod, node, str(MAX_FILE + 1), NO_POD),
        )
        for pod in STATIC_PODS
    ]


# --- running the table -----------------------------------------------------------

# What kubectl says when the API itself does not answer (or answers that it cannot);
# "Error from server: ... 10250 ... connection refused" is the API answering that a
# kubelet does not: that pod's logs fail, the other items still run.
API_DOWN = (
    "Unable to connect to the server",
    "The connection to the server",
    "the server is currently unable",
    "etcdserver: request timed out",
    "request did not complete within requested timeout",
)


def reason_of(error: Exception) -> str:
    """Why an item failed, in the index's words."""
    if isinstance(error, MachinesError):  # remote.NodeShell: UnreachableHost
        return "node unreachable"
    text = str(error)
    if "did not end in" in text:  # remote.NodeShell's timeout
        return "timeout"
    if any(marker in text for marker in API_DOWN):
        return "API down"
    return "failed"


def run_items(items: Iterable[Item], sh: Shell, deadline: float | None = None) -> Collected:
    """Run each item on one node; failures are recorded, never raised. A node that
    cannot be reached skips the rest; an API down (or a kubectl call that timed out)
    skips the rest of the "api" items; after the deadline (time.monotonic) everything
    left is skipped."""
    got = Collected()
    queue = list(items)
    blocked: dict[str, Missing] = {}  # group ("*": all) -> the failure that blocks it
    while queue:
        item = queue.pop(0)
        first = blocked.get("*") or blocked.get(item.group)
        if first is not None:
            got.missing.append(Missing(item.name, first.reason, f"skipped: {first.name} failed"))
            continue
        if deadline is not None and time.monotonic() > deadline:
            got.missing.append(Missing(item.name, "timeout", f"skipped: over {DEADLINE} s"))
            continue
        try:
            out = sh(item.command, timeout=item.timeout)
        except Exception as e:  # whatever one command met, the others still run
            missing = Missing(item.name, reason_of(e), _said(e))
            got.missing.append(missing)
            if missing.reason == "node unreachable":
                blocked["*"] = missing
            elif item.group == "api" and missing.reason in ("API down", "timeout"):
                blocked["api"] = missing
            continue
        if item.expand is not None:
            try:
                queue[:0] = item.expand(out)
            except CapReached as e:
                queue[:0] = e.items
                got.missing.append(Missing(item.name, "over the cap", str(e)))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                got.missing.append(Missing(item.name, "failed", f"unreadable output: {e!r}"))
        elif out.strip() == NO_UNIT:
            got.missing.append(Missing(item.name, "no such unit", "not on this node"))
        elif out.strip() == NO_POD:
            got.missing.append(Missing(item.name, "no such pod", "not on this node"))
        else:
            got.files.append((item.name, out.encode("utf-8", "surrogateescape")))
    return got


def collect_node(
    items: list[Item],
    open_shell: Callable[[], AbstractContextManager[Shell]],
    deadline: float | None = None,
) -> Collected:
    """run_items on a node whose shell open_shell() opens; a shell that cannot even be
    opened (no inventory, no known_hosts) is recorded for each item."""
    try:
        with open_shell() as sh:
            return run_items(items, sh, deadline)
    except Exception as e:  # one node's trouble never stops the others
        reason = "node unreachable" if isinstance(e, MachinesError) else "no connection"
        return Collected(missing=[Missing(i.name, reason, _said(e)) for i in items])


def _said(error: Exception) -> str:
    """A ProvisionError's message (it names the node and the fix), else its type too."""
    return str(error) if isinstance(error, ProvisionError) else f"{type(error).__name__}: {error}"


# --- what the host keeps ---------------------------------------------------------


def newest_run(runs: Path) -> Path | None:
    """The newest run directory under <state>/runs other than diagnose's own (a link
    there is no run of ours)."""
    try:
        found = [
            Path(e.path)
            for e in os.scandir(runs)
            if e.is_dir(follow_symlinks=False) and not e.name.endswith(f"-{RUN_NAME}")
        ]
    except (FileNotFoundError, NotADirectoryError):
        return None
    return max(found, key=lambda p: p.name, default=None)


def run_evidence(run: Path | None) -> Collected:
    """The run's failed and unreachable task events (ansible-<phase>/artifacts/<id>/
    job_events/*.json, ansible-runner's; at most MAX_EVENTS, those of ignored errors
    left out) and its verify.json."""
    got = Collected()
    if run is None:
        got.missing.append(Missing("ansible", "no run", "no run directory under runs/"))
        return got
    events: list[tuple[str, int, str, bytes]] = []
    for phase in sorted(run.glob("ansible-*")):
        if phase.is_symlink() or not phase.is_dir():
            continue
        for path in sorted(phase.glob("artifacts/*/job_events/*.json")):
            name = f"ansible/{_safe(phase.name)}/{_safe(path.name)}"
            try:
                raw = read_small(path, "an ansible-runner event", max_bytes=MAX_EVENT_READ)
                if raw is None or not any(f'"{e}"'.encode() in raw for e in FAILED_EVENTS):
                    continue
                event = decode_json(raw)
            except (ProvisionError, ValueError) as e:
                got.missing.append(Missing(name, "unreadable", str(e)))
                continue
            if not isinstance(event, dict) or event.get("event") not in FAILED_EVENTS:
                continue
            if (event.get("event_data") or {}).get("ignore_errors"):
                continue
            counter = event.get("counter")
            counter = counter if isinstance(counter, int) else 0
            text = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
            events.append((phase.name, counter, name, text.encode("utf-8", "surrogateescape")))
    events.sort(key=lambda e: (e[0], e[1]))
    got.files += [(name, data) for _, _, name, data in events[:MAX_EVENTS]]
    if len(events) > MAX_EVENTS:
        detail = f"{len(events)} failed task events, the first {MAX_EVENTS} kept"
        got.missing.append(Missing("ansible", "over the cap", detail))
    if not any(run.glob("ansible-*")):
        got.missing.append(Missing("ansible", "not present", f"{run.name} ran no playbook"))
    try:
        verify = read_small(run / "verify.json", "the run's verify.json", max_bytes=MAX_TOTAL)
    except ProvisionError as e:
        got.missing.append(Missing("verify.json", "unreadable", str(e)))
    else:
        if verify is None:
            got.missing.append(Missing("verify.json", "not present", f"{run.name} ran no verify"))
        else:
            got.files.append(("verify.json", verify))
    return got


# --- redaction, caps, index, archive (pure) --------------------------------------

_VALUE = r"(?![<*])[^\s\"',;&}\]]+"
_KEY_END = r"[\"']?\s*[:=]\s*[\"']?"  # `key: v`, `KEY=v`, `"key": "v"`, `key: 'v'`
PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    # (kind, pattern, replacement): a group 1 is kept before the marker
    (
        "private-key",
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)",
            re.S,
        ),
        "",
    ),
    # an end left after every whole key is gone: its start was cut away (a tail kept by
    # the node), so all before it goes
    ("private-key", re.compile(r"\A.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S), ""),
    ("client-key-data", re.compile(r"(client-key-data\"?\s*:\s*\"?)[A-Za-z0-9+/=]+"), "\\1"),
    (
        "certificate-key",
        re.compile(r"(?i)(certificate[-_]?key\"?\s*[=: ]\s*\"?)[0-9a-f]{64}"),
        "\\1",
    ),
    ("token", re.compile(rf"(?i)(token(?:[-_]?secret)?{_KEY_END}){_VALUE}"), "\\1"),
    ("token", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/-]+=*"), "\\1"),
    ("token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), ""),
    (
        "password",
        re.compile(rf"(?i)((?:password|passwd)[\w.-]{{0,40}}{_KEY_END}){_VALUE}"),
        "\\1",
    ),
    ("bootstrap-token", re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"), ""),
]
# Generated values shorter than this would match inside unrelated words.
MIN_LITERAL = 6


def credentials(state_dir: Path) -> list[str]:
    """The values to redact from the lab's add-on credentials (<state>/secrets/
    addons.json): every string value except user names, longest first. A file that
    cannot be read raises: no archive is written that might hold them."""
    from provision.addons.secrets import secrets_file

    stored = read_json(secrets_file(state_dir), "the add-ons' credentials") or {}
    values = {
        v
        for k, v in stored.items()
        if isinstance(v, str) and len(v) >= MIN_LITERAL and not str(k).endswith("-user")
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, literals: Iterable[str] = ()) -> tuple[str, int]:
    """text with every secret replaced by <redacted:KIND>, and how many were."""
    count = 0
    values = [v for v in literals if v]
    if values:
        text, n = re.subn("|".join(map(re.escape, values)), "<redacted:credential>", text)
        count += n
    for kind, pattern, keep in PATTERNS:
        text, n = pattern.subn(f"{keep}<redacted:{kind}>", text)
        count += n
    return text, count


def cap_tail(data: bytes, limit: int = MAX_FILE) -> tuple[bytes, bool]:
    """data, or its last lines under a first line saying what was dropped, in at most
    `limit` bytes; and whether it was cut."""
    if len(data) <= limit:
        return data, False
    kept = data[-(limit - 200) :]
    newline = kept.find(b"\n", 0, min(4096, len(kept) - 1))
    if newline != -1:
        kept = kept[newline + 1 :]  # whole lines only
    mark = (
        f"[provision diagnose: truncated: the first {len(data) - len(kept)} of {len(data)} "
        f"bytes dropped, the last {len(kept)} kept]\n"
    ).encode()
    return mark + kept, True


def package(
    got: Collected,
    literals: list[str],
    facts: dict,
    max_file: int = MAX_FILE,
    max_total: int = MAX_TOTAL,
) -> tuple[list[tuple[str, bytes]], dict]:
    """The archive's files, redacted, capped and within max_total (in collection
    order: earlier files first), and the index (diagnostics.json) first of them."""
    files: list[tuple[str, bytes]] = []
    listed, missing, total, redactions = [], list(got.missing), 0, 0
    for name, data in got.files:
        text, n = redact(data.decode("utf-8", "surrogateescape"), literals)
        capped, cut = cap_tail(text.encode("utf-8", "surrogateescape"), max_file)
        if total + len(capped) > max_total:
            missing.append(Missing(name, "over the total size", f"{len(capped)} bytes"))
            continue
        total += len(capped)
        redactions += n
        files.append((name, capped))
        listed.append({"name": name, "bytes": len(capped), "truncated": cut, "redactions": n})
    for m in missing:
        m.detail, n = redact(m.detail[-400:], literals)
        redactions += n
    index = {
        **facts,
        "files": listed,
        "not_collected": [asdict(m) for m in missing],
        "bytes": total,
        "redactions": redactions,
        "limits": {"file_bytes": max_file, "total_bytes": max_total},
    }
    return files, index


def write_archive(path: Path, root: str, files: list[tuple[str, bytes]]) -> None:
    """A gzip tar of files under root/, 0600, whole or not at all (files.private_file:
    never through a link planted at the path or its temporary file)."""
    now = int(time.time())
    with private_file(path) as f, tarfile.open(fileobj=f, mode="w:gz", compresslevel=6) as tar:
        for name, data in files:
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o600, now
            tar.addfile(info, io.BytesIO(data))


# --- the command -----------------------------------------------------------------


class Diagnose:
    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log

    def run(self, out: Path | None = None, since: datetime | None = None) -> Path:
        """Collect, redact and write diagnostics-<stamp>.tar.gz in out (default
        <state>/diagnostics/); its path. Nothing that fails on a node or the API
        raises; an unreadable credentials file or an unwritable directory does."""
        clock, now = time.monotonic(), datetime.now(UTC)
        since = since or now - DEFAULT_SINCE
        literals = credentials(self.inv.state_dir)
        directory = self._directory(out)
        run = newest_run(self.inv.state_dir / "runs")
        got = run_evidence(run)
        got.extend(self._nodes(since, clock + DEADLINE))
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        facts = {
            "cluster": self.config.cluster.name,
            "inventory": str(self.inv.cluster_file),
            "started": now.isoformat(timespec="seconds"),
            "since": since.isoformat(timespec="seconds"),
            "run": run.name if run else None,
        }
        files, index = package(got, literals, facts)
        index["seconds"] = round(time.monotonic() - clock, 1)
        path = directory / f"diagnostics-{stamp}.tar.gz"
        for n in range(2, 100):
            if not (path.exists() or path.is_symlink()):
                break
            path = directory / f"diagnostics-{stamp}-{n}.tar.gz"
        data = json.dumps(index, indent=2, ensure_ascii=False) + "\n"
        write_archive(path, f"diagnostics-{stamp}", [("diagnostics.json", data.encode()), *files])
        for m in index["not_collected"]:
            self.log.write(f"diagnose: not collected: {m['name']}: {m['reason']}: {m['detail']}")
        self.log.say(
            f"diagnose: {len(files)} files ({index['bytes']} bytes), "
            f"{len(index['not_collected'])} not collected, {index['redactions']} redactions, "
            f"{index['seconds']} s"
        )
        return path

    def _directory(self, out: Path | None) -> Path:
        if out is None:
            return private_dir(self.inv.state_dir / "diagnostics", "the diagnostics directory")
        try:
            out.mkdir(parents=True, exist_ok=True, mode=0o700)
        except FileExistsError:
            raise UsageError(
                f"--out {out} is not a directory\n  fix: name a directory (made when missing)"
            ) from None
        if not out.is_dir():
            raise UsageError(f"--out {out} is not a directory\n  fix: name a directory")
        return out

    def _nodes(self, since: datetime, deadline: float) -> Collected:
        """Every node in a thread: the control plane's cluster items first, then each
        node's journals; results in config order (the control plane first)."""
        cp = self.config.control_plane.name
        nodes = [cp, *(n.name for n in self.config.nodes if n.name != cp)]
        plans = {
            n: [*(CLUSTER_ITEMS if n == cp else []), *node_items(n, since)]
            + (static_pod_items(n) if n == cp else [])
            for n in nodes
        }
        got = Collected()
        with ThreadPoolExecutor(len(nodes)) as pool:
            running = [
                pool.submit(collect_node, plans[n], partial(self._shell, n), deadline)
                for n in nodes
            ]
            for future in running:
                got.extend(future.result())
        return got

    @contextmanager
    def _shell(self, node: str) -> Iterator[Shell]:
        from provision.remote import shells

        with shells(self.inv, {node: node}) as on:
            yield on[node]
