"""ELK: Elasticsearch (a StatefulSet of one, its data on a claim), Logstash,
Kibana and a log shipper DaemonSet (Filebeat through Logstash, or rsyslog straight
to Elasticsearch), one manifest each. verify indexes a document and finds it,
reads Kibana's status, and finds a line a pod wrote in Elasticsearch's logs (or,
with no shipper running, in the node's /var/log/containers, where the shipper
reads)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from provision.addons.base import NS, Addon, Check, CheckFailed, in_pod, probe_image, token
from provision.bundle.addon_images import ImageRecipe, debian_image
from provision.config.model import ClusterConfig
from provision.remote import kubectl

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
        [
            *kubectl("-n", NS, "run", pod, "--restart=Never", f"--image={probe_image(sh)}"),
            *("--image-pull-policy=Never", "--command", "--"),
            *("/bin/busybox", "sh", "-c", f"echo {value}; sleep 5"),
        ]
    )
    try:
        for _ in range(30):
            if hits(sh, "logs-*", message=value, kubernetes__pod__name=pod) > 0:
                return f"log line {value} written by pod {pod} was found in Elasticsearch"
            time.sleep(4)
    finally:
        sh(kubectl("-n", NS, "delete", "pod", pod, "--wait=false", "--ignore-not-found"))
    raise CheckFailed(f"log line {value} not searchable in Elasticsearch after 2 minutes")


def kibana_status(sh) -> str:
    out = sh(in_pod("deploy/kibana", "curl -s http://127.0.0.1:5601/api/status"))
    level = json.loads(out).get("status", {}).get("overall", {}).get("level")
    if level != "available":
        raise CheckFailed(f"Kibana's overall status is {level!r}, not available")
    return "Kibana's status API reports available (green)"


def container_logs_on_node(sh) -> str:
    """The closest real check of log shipping where no shipper image exists: a line a
    pod writes reaches /var/log/containers on its node, the path the Filebeat
    DaemonSet reads."""
    value = token()
    pod = f"provision-log-{value[-6:]}"
    image = probe_image(sh)
    node = sh(["hostname"]).strip()
    overrides = json.dumps({"spec": {"nodeName": node, "tolerations": [{"operator": "Exists"}]}})
    sh(
        [
            *kubectl("-n", NS, "run", pod, "--restart=Never", f"--image={image}"),
            *("--image-pull-policy=Never", f"--overrides={overrides}", "--command", "--"),
            *("/bin/busybox", "sh", "-c", f"echo {value}"),
        ]
    )
    try:
        sh(
            [
                *kubectl(
                    "-n", NS, "wait", f"pod/{pod}", "--for=jsonpath={.status.phase}=Succeeded"
                ),
                "--timeout=120s",
            ]
        )
        logs = ["find", "/var/log/containers", "-maxdepth", "1", "-name", f"{pod}_{NS}_*.log"]
        files = sh(logs).split()
        if not files:
            raise CheckFailed(f"no log file of pod {pod} in /var/log/containers on {node}")
        out = sh(["grep", "-l", "--", value, *files])
    finally:
        sh(kubectl("-n", NS, "delete", "pod", pod, "--wait=false", "--ignore-not-found"))
    return f"a pod's line {value} is in {out.strip()} (read by the log shipper)"


@dataclass(frozen=True)
class Elk(Addon):
    def workload(self, config: ClusterConfig, part: str) -> str | None:
        if part == "shipper":
            return f"daemonset/{config.addons.elk.shipper}"
        return super().workload(config, part)

    def more_checks(self, config: ClusterConfig, deployed: list[str]) -> list[Check]:
        if {"shipper", "elasticsearch"} <= set(deployed):
            return [Check("elk", "a pod's log line searchable", elasticsearch_log_search)]
        return [Check("elk", "container logs where the shipper reads", container_logs_on_node)]


ADDON = Elk(
    name="elk",
    package=__name__,
    parts=("elasticsearch", "logstash", "kibana", "shipper"),
    volumes=("data-elasticsearch-0",),
    images={
        "elasticsearch": ("docker.elastic.co/elasticsearch/elasticsearch", "{v}"),
        "logstash": ("docker.elastic.co/logstash/logstash", "{v}"),
        "kibana": ("docker.elastic.co/kibana/kibana", "{v}"),
        "filebeat": ("docker.elastic.co/beats/filebeat", "{v}"),
    },
    # OpenSearch (it speaks Elasticsearch's API; its jars from Maven Central) on
    # Debian's Java, and Debian's rsyslog as the shipper
    built_images=(
        ImageRecipe(
            "elasticsearch", "opensearch", __name__, "provision-opensearch", maven="opensearch"
        ),
        debian_image(
            "rsyslog",
            "rsyslog",
            __name__,
            "provision-rsyslog",
            ("rsyslog", "rsyslog-elasticsearch"),
            tag_series="8.2302",
        ),
    ),
    node_ports={"kibana": 30005},
    workloads={
        "elasticsearch": "statefulset/elasticsearch",
        "logstash": "deployment/logstash",
        "kibana": "deployment/kibana",
    },
    part_checks={
        "elasticsearch": (
            Check("elk", "Elasticsearch indexes and finds a document", elasticsearch_roundtrip),
        ),
        "kibana": (Check("elk", "Kibana status", kibana_status),),
    },
)
