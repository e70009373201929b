#!/bin/sh
# In the MySQL pod: its stdin is the lab's root password on one line, then the
# dump. Tries the pod's root password, then the lab's; loads the dump with the
# first MySQL accepts.
read -r P
for pw in "$MYSQL_ROOT_PASSWORD" "$P"; do
  if MYSQL_PWD="$pw" mysql -h 127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    { cat; echo 'FLUSH PRIVILEGES;'; } | MYSQL_PWD="$pw" mysql -h 127.0.0.1 -uroot
    exit $?
  fi
done
echo "MySQL accepts neither the pod's root password nor the lab's current one" >&2
exit 1
