"""RabbitMQ: a StatefulSet of one with the management plugin (rabbitmq.yaml.j2),
its data on a claim; verify publishes a persistent message to a durable queue and
consumes it; a backup carries its definitions (users, vhosts, queues,
exchanges), which load.sh imports again."""

from __future__ import annotations

import json

from provision.addons.base import Addon, Check, CheckFailed, DataPart, in_pod, token
from provision.bundle.addon_images import debian_image


def roundtrip(sh) -> str:
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


ADDON = Addon(
    name="rabbitmq",
    package=__name__,
    parts=("rabbitmq",),
    volumes=("data-rabbitmq-0",),
    images={"rabbitmq": ("docker.io/library/rabbitmq", "{v}-management")},
    built_images=(
        debian_image(
            "rabbitmq",
            "rabbitmq",
            __name__,
            "provision-rabbitmq",
            ("rabbitmq-server", "curl"),
            tag_series="3.10",
        ),
    ),
    node_ports={"rabbitmq_amqp": 30003, "rabbitmq_management": 30004},
    workloads={"rabbitmq": "statefulset/rabbitmq"},
    part_checks={"rabbitmq": (Check("rabbitmq", "publish and consume, durable queue", roundtrip),)},
    data=(
        DataPart(
            "rabbitmq/definitions.json",
            "rabbitmq-0",
            "data-rabbitmq-0",
            "rabbitmqctl -q export_definitions -",
            "load.sh",
        ),
    ),
)
