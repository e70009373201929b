#!/bin/sh
# In the RabbitMQ pod: its stdin is a definitions file; rabbitmqctl imports it
# (importing the same definitions twice gives the same definitions).
f=$(mktemp) && cat > "$f" && chown rabbitmq "$f" && rabbitmqctl -q import_definitions "$f"
rc=$?
rm -f "$f"
exit $rc
