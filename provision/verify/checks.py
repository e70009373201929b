"""The checks `provision verify` runs. Each does the part's real job, inside the
cluster (kubectl on the control-plane node, commands in the add-on pods); the
host sends nothing to pod or service addresses. Passwords stay in the pods:
commands read them from the pods' own environment.

A check returns a detail line or raises CheckFailed. Add-ons the config marks
validate_only are checked with a server-side dry run of their manifests.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.addons.manifests import NAMESPACE
from provision.errors import ProvisionError
from provision.remote import KUBECTL, cluster_nodes

NS = NAMESPACE


class CheckFailed(ProvisionError):
    pass


@dataclass(frozen=True)
class Check:
    addon: str  # cluster, mysql, rabbitmq, zipkin, elk, nfs, storage
    name: str
    run: Callable[[Callable[[str], str]], str]  # (run a command on `on`) -> detail
    real: bool = True  # False: validated only (dry run)
    on: str = "control-plane"  # or "worker": the first worker


def token() -> str:
    return "provision-" + secrets.token_hex(6)


def nodes_ready(sh) -> str:
    nodes = cluster_nodes(sh)
    not_ready = [
        n["metadata"]["name"]
        for n in nodes
        if {c["type"]: c["status"] for c in n["status"]["conditions"]}.get("Ready") != "True"
    ]
    if not_ready:
        raise CheckFailed(f"nodes not Ready: {', '.join(not_ready)}")
    return f"{len(nodes)} nodes Ready"


def in_pod(pod: str, script: str, container: str | None = None) -> str:
    """kubectl exec running a shell script in a pod (single-quoted for the node shell)."""
    quoted = script.replace("'", "'\"'\"'")
    c = f" -c {container}" if container else ""
    return f"{KUBECTL} -n {NS} exec {pod}{c} -- sh -c '{quoted}'"


def mysql_roundtrip(sh) -> str:
    value = token()
    sql = (
        "CREATE TABLE IF NOT EXISTS provision_verify (id INT AUTO_INCREMENT PRIMARY KEY, "
        "value VARCHAR(64) NOT NULL, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP); "
        f"INSERT INTO provision_verify (value) VALUES ('{value}'); "
        f"SELECT value FROM provision_verify WHERE value = '{value}';"
    )
    out = sh(
        in_pod(
            "mysql-0",
            'mysql -h 127.0.0.1 -N -u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" '
            f'-e "{sql}"',
        )
    )
    if value not in out.split():
        raise CheckFailed(f"the row written was not read back (got {out.strip()!r})")
    return f"created table, inserted and selected {value} as the app user"


def rabbitmq_roundtrip(sh) -> str:
    value = token()
    api = 'curl -sf -u "$RABBITMQ_DEFAULT_USER:$RABBITMQ_DEFAULT_PASS" http://127.0.0.1:15672/api'
    queue = "provision-verify"
    publish = json.dumps(
        {
            "routing_key": queue,
            "payload": value,
            "payload_encoding": "string",
            "properties": {"delivery_mode": 2},
        }
    )
    get = json.dumps({"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})
    script = (
        f"{api}/queues/%2F/{queue} -X PUT -H content-type:application/json "
        "-d '{\"durable\":true}' >/dev/null && "
        f"{api}/exchanges/%2F/amq.default/publish -H content-type:application/json "
        f"-d '{publish}' && echo && "
        f"{api}/queues/%2F/{queue}/get -H content-type:application/json -d '{get}'"
    )
    out = sh(in_pod("rabbitmq-0", script)).splitlines()
    if len(out) < 2 or json.loads(out[0]).get("routed") is not True:
        raise CheckFailed(f"publish to the durable queue was not routed: {out[:1]}")
    messages = json.loads(out[1])
    if not messages or messages[0].get("payload") != value:
        raise CheckFailed(f"consumed {messages!r}, expected the message {value}")
    return f"published {value} (persistent) to durable queue {queue} and consumed it"


def zipkin_roundtrip(sh) -> str:
    trace = secrets.token_hex(8)
    span = json.dumps(
        [
            {
                "traceId": trace,
                "id": trace,
                "name": "provision-verify",
                "timestamp": int(time.time() * 1_000_000),
                "duration": 1000,
                "localEndpoint": {"serviceName": "provision-verify"},
            }
        ]
    )
    api = "http://127.0.0.1:9411/api/v2"
    pod = "deploy/zipkin"
    sh(in_pod(pod, f"curl -sf -X POST {api}/spans -H content-type:application/json -d '{span}'"))
    for _ in range(10):
        out = sh(in_pod(pod, f"curl -s {api}/trace/{trace}"))
        try:
            spans = json.loads(out)
        except ValueError:
            spans = []
        if any(s.get("id") == trace for s in spans if isinstance(s, dict)):
            return f"accepted span {trace} and returned it in its trace"
        time.sleep(1)
    raise CheckFailed(f"trace {trace} not returned after posting its span")


def storage_roundtrip(sh) -> str:
    value = token()
    pod = f"provision-verify-{value[-6:]}"
    spec = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod, "namespace": NS},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "rw",
                    "image": "{probe}",
                    "imagePullPolicy": "Never",
                    "command": [
                        "/bin/busybox",
                        "sh",
                        "-c",
                        f"echo {value} > /data/{value} && cat /data/{value} && rm /data/{value}",
                    ],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "provision-verify"}}
            ],
        },
    }
    return _run_pod(sh, pod, spec, value)


def _run_pod(sh, pod: str, spec: dict, value: str) -> str:
    claim = json.loads(sh(f"{KUBECTL} -n {NS} get pvc provision-verify -o json"))
    claim_class = claim["spec"].get("storageClassName")
    image = probe_image(sh)
    text = json.dumps(spec).replace('"{probe}"', json.dumps(image))
    sh(f"echo '{text}' | {KUBECTL} apply -f -")
    try:
        sh(
            f"{KUBECTL} -n {NS} wait pod/{pod} --for=jsonpath='{{.status.phase}}'=Succeeded "
            "--timeout 120s"
        )
        out = sh(f"{KUBECTL} -n {NS} logs {pod}")
    finally:
        sh(f"{KUBECTL} -n {NS} delete pod {pod} --wait=false --ignore-not-found")
    if value not in out:
        raise CheckFailed(f"the pod did not read back what it wrote (got {out.strip()!r})")
    return f"claim provision-verify (class {claim_class}) bound; a pod wrote and read {value}"


def probe_image(sh) -> str:
    """The busybox probe image the join phase made on every node (cluster_probe)."""
    image = sh(
        "(ctr -n k8s.io images ls -q 2>/dev/null; docker image ls --format "
        "'{{.Repository}}:{{.Tag}}') | grep -m1 '^provision.local/probe:' || true"
    ).strip()
    if not image:
        raise CheckFailed("no probe image on the control plane (the join phase makes it)")
    return image


def dry_run(manifest: Path) -> Callable[[Callable[[str], str]], str]:
    """The API server's strict dry run of a manifest rendered on the operator's
    side (`<state>/addons/`; no credentials in it): sent with the command, as
    base64, so nothing is written on the node."""

    def run(sh) -> str:
        try:
            data = base64.b64encode(manifest.read_bytes()).decode()
        except OSError as e:
            raise CheckFailed(
                f"cannot read {manifest} ({e.strerror}); the addons phase renders it: "
                "run `provision up --from addons`"
            ) from None
        out = sh(
            f"echo {data} | base64 -d | {KUBECTL} apply --dry-run=server --validate=strict -f -"
        )
        count = sum(1 for line in out.splitlines() if line.endswith("(server dry run)"))
        return f"{count} objects accepted by the API server (server-side dry run, strict)"

    return run


ES = "http://127.0.0.1:9200"


def in_elasticsearch(sh, request: str) -> dict:
    """A curl request to Elasticsearch from inside its pod; the JSON answer."""
    out = sh(in_pod("elasticsearch-0", f"curl -s {request}"))
    try:
        return json.loads(out)
    except ValueError:
        raise CheckFailed(f"Elasticsearch answered {out.strip()[:200]!r}") from None


def hits(sh, index: str, **phrases: str) -> int:
    """How many documents hold each field's exact phrase (a token such as
    provision-1a2b is two words to the analyzer: a plain query would match any
    document with "provision" in it)."""
    query = {
        "query": {
            "bool": {
                "filter": [
                    {"match_phrase": {field.replace("__", "."): value}}
                    for field, value in phrases.items()
                ]
            }
        }
    }
    found = in_elasticsearch(
        sh,
        f"'{ES}/{index}/_search?size=0' -H content-type:application/json -d '{json.dumps(query)}'",
    )
    return found.get("hits", {}).get("total", {}).get("value", 0)


def elasticsearch_roundtrip(sh) -> str:
    """Index a document, find it by a full-text search, and read the cluster health."""
    value = token()
    index = "provision-verify"
    doc = json.dumps({"message": value, "@timestamp": int(time.time() * 1000)})
    created = in_elasticsearch(
        sh,
        f"-X POST '{ES}/{index}/_doc?refresh=true' -H content-type:application/json -d '{doc}'",
    )
    if created.get("result") != "created":
        raise CheckFailed(f"indexing a document failed: {created}")
    found = hits(sh, index, message=value)
    if found != 1:
        raise CheckFailed(f"document {value} was indexed once, search found it {found} times")
    health = in_elasticsearch(sh, f"'{ES}/_cluster/health'").get("status")
    if health not in ("green", "yellow"):
        raise CheckFailed(f"cluster health is {health!r}")
    about = in_elasticsearch(sh, f"'{ES}/'").get("version", {})
    server = f"{about.get('distribution', 'elasticsearch')} {about.get('number', '?')}"
    return f"indexed {value} into {index} and found it by search ({server}, health {health})"


def elasticsearch_log_search(sh) -> str:
    """A line a pod writes to its log is shipped (the shipper DaemonSet) and found."""
    value = token()
    pod = f"provision-log-{value[-6:]}"
    sh(
        f"{KUBECTL} -n {NS} run {pod} --restart=Never --image={probe_image(sh)} "
        f"--image-pull-policy=Never --command -- /bin/busybox sh -c 'echo {value}; sleep 5'"
    )
    try:
        for _ in range(30):
            if hits(sh, "logs-*", message=value, kubernetes__pod__name=pod) > 0:
                return f"log line {value} written by pod {pod} was found in Elasticsearch"
            time.sleep(4)
    finally:
        sh(f"{KUBECTL} -n {NS} delete pod {pod} --wait=false --ignore-not-found")
    raise CheckFailed(f"log line {value} not searchable in Elasticsearch after 2 minutes")


def kibana_status(sh) -> str:
    out = sh(in_pod("deploy/kibana", "curl -s http://127.0.0.1:5601/api/status"))
    level = json.loads(out).get("status", {}).get("overall", {}).get("level")
    if level != "available":
        raise CheckFailed(f"Kibana's overall status is {level!r}, not available")
    return "Kibana's status API reports available (green)"


def nfs_export(server_ip: str, export_path: str) -> Callable[[Callable[[str], str]], str]:
    """From a worker: list the export over NFSv4 with a userspace client (lab nodes
    cannot mount NFS) and find the marker file the addons phase left in it."""

    def run(sh) -> str:
        url = f"nfs://{server_ip}{export_path}?version=4"
        out = sh(f"nfs-ls '{url}'")
        if MARKER not in out:
            raise CheckFailed(f"{url} lists no {MARKER}: {out.strip()!r}")
        return f"listed {url} over NFSv4 from a worker (userspace client), marker found"

    return run


MARKER = ".provision-export"


def container_logs_on_node(sh) -> str:
    """The closest real check of log shipping where no shipper image exists: a line a
    pod writes reaches /var/log/containers on its node, the path the Filebeat
    DaemonSet reads."""
    value = token()
    pod = f"provision-log-{value[-6:]}"
    image = probe_image(sh)
    node = sh("hostname").strip()
    overrides = json.dumps({"spec": {"nodeName": node, "tolerations": [{"operator": "Exists"}]}})
    sh(
        f"{KUBECTL} -n {NS} run {pod} --restart=Never --image={image} --image-pull-policy=Never "
        f"--overrides='{overrides}' --command -- /bin/busybox sh -c 'echo {value}'"
    )
    try:
        sh(
            f"{KUBECTL} -n {NS} wait pod/{pod} --for=jsonpath='{{.status.phase}}'=Succeeded "
            "--timeout 120s"
        )
        out = sh(f"grep -l {value} /var/log/containers/{pod}_{NS}_*.log")
    finally:
        sh(f"{KUBECTL} -n {NS} delete pod {pod} --wait=false --ignore-not-found")
    return f"a pod's line {value} is in {out.strip()} (read by the log shipper)"
