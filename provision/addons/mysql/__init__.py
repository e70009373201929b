"""MySQL: a StatefulSet of one (mysql.yaml.j2), its data on a claim; verify
creates a table, inserts and selects as the app user; a backup carries
mysqldump's output, which load.sh puts back."""

from __future__ import annotations

from provision.addons.base import Addon, Check, CheckFailed, DataPart, in_pod, token
from provision.bundle.addon_images import debian_image


def roundtrip(sh) -> str:
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


ADDON = Addon(
    name="mysql",
    package=__name__,
    parts=("mysql",),
    volumes=("data-mysql-0",),
    images={"mysql": ("docker.io/library/mysql", "{v}")},
    # MariaDB from Debian, without the data directory Debian's postinst made (the
    # entry script makes its own)
    built_images=(
        debian_image(
            "mysql",
            "mariadb",
            __name__,
            "provision-mysqld",
            ("mariadb-server",),
            tag_series="10.11",
            remove=("var/lib/mysql",),
        ),
    ),
    workloads={"mysql": "statefulset/mysql"},
    part_checks={"mysql": (Check("mysql", "create, insert, select", roundtrip),)},
    data=(
        DataPart(
            "mysql/dump.sql",
            "mysql-0",
            "data-mysql-0",
            'mysqldump -h 127.0.0.1 -uroot -p"$MYSQL_ROOT_PASSWORD" '
            "--all-databases --single-transaction --routines --events 2>/dev/null",
            "load.sh",
            password=True,
        ),
    ),
)
