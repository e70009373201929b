"""What a config value is, checked by kind: names, addresses, networks, paths, image
references, URLs, time zones, SQL identifiers.

Each checker takes an already well-typed value and returns it (possibly normalized)
or raises ValueError with a message that says what is wrong; the model
(model.py) attaches them to fields, so every field is checked by what it means,
not only by its type. The rules are deliberately narrow: a value that passes one
of them is safe to place in a YAML or TOML scalar, on an SSH command line or in a
file system operation without further care (the templates still escape it).
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import zoneinfo
from ipaddress import IPv4Address, IPv4Network, ip_address
from pathlib import Path
from urllib.parse import urlsplit

# --- names ---------------------------------------------------------------------------

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Names that resolve to something else on every node, or that kubeadm and the
# kubelet treat specially: a node called `localhost` gets a certificate and a node
# IP for 127.0.0.1 semantics.
RESERVED_NAMES = frozenset({"localhost", "localhost4", "localhost6", "ip6-localhost"})


def dns_label(value: str) -> str:
    if not DNS_LABEL.fullmatch(value):
        raise ValueError(
            "must be a DNS-1123 label: 1 to 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if value in RESERVED_NAMES:
        raise ValueError("is reserved: it names the machine itself")
    return value


HOST_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){HOST_LABEL}(\.{HOST_LABEL})*$")


def ssh_address(value: str) -> str:
    """An IP address or a DNS name: never an option (`-o...`), never shell syntax."""
    try:
        addr = ip_address(value)
    except ValueError:
        addr = None
    if addr is None:
        if not HOSTNAME.fullmatch(value):
            raise ValueError(
                "must be an IP address or a DNS name (letters, digits, '-' and '.'; "
                "no spaces, no leading '-')"
            )
        if value.lower() in RESERVED_NAMES:
            raise ValueError(f"'{value}' is this machine, not a cluster host")
        return value
    if getattr(addr, "scope_id", None) is not None:
        # `fe80::1%eth0 -oProxyCommand=...`: Python takes anything after % as the scope
        raise ValueError("an IPv6 scope id (%...) is not allowed: write the address alone")
    if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
        raise ValueError(f"{addr} is not a host address another machine can reach")
    return value


POSIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def posix_user(value: str) -> str:
    if not POSIX_USER.fullmatch(value):
        raise ValueError(
            "must be a POSIX user name: a lower-case letter or '_', then up to 31 "
            "lower-case letters, digits, '_' or '-'"
        )
    return value


VAGRANT_BOX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$")


def vagrant_box(value: str) -> str:
    if not VAGRANT_BOX.fullmatch(value):
        raise ValueError("must be a Vagrant box name such as debian/bookworm64")
    return value


# --- networks ----------------------------------------------------------------------


def _address_class(addr: IPv4Address) -> str | None:
    if addr.is_unspecified:
        return "unspecified (0.0.0.0)"
    if addr.is_loopback:
        return "loopback (127.0.0.0/8)"
    if addr.is_multicast:
        return "multicast (224.0.0.0/4)"
    if addr.is_link_local:
        return "link-local (169.254.0.0/16)"
    if addr.is_reserved:
        return "reserved (240.0.0.0/4)"
    return None


def host_ip(value: IPv4Address) -> IPv4Address:
    kind = _address_class(value)
    if kind or value == IPv4Address("255.255.255.255"):
        raise ValueError(f"{value} is {kind or 'the broadcast address'}: not a node address")
    return value


def network(low: int, high: int, why: str):
    """A checker for a usable IPv4 network with a prefix length in [low, high]."""

    def check(value: IPv4Network) -> IPv4Network:
        for addr in (value.network_address, value.broadcast_address):
            kind = _address_class(addr)
            if kind:
                raise ValueError(f"{value} is {kind}: pick a private range such as 10.0.0.0/8")
        if not low <= value.prefixlen <= high:
            raise ValueError(f"{value}: the prefix must be between /{low} and /{high} ({why})")
        return value

    return check


# --- paths ---------------------------------------------------------------------------

# Trees that belong to the operating system or the kernel: nothing of ours goes in
# them, and a directory there is never ours to replace, export or chmod.
SYSTEM_TREES = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/containerd",
    "/var/lib/docker",
    "/var/lib/etcd",
    "/var/lib/kubelet",
    "/var/log",
    "/var/run",
)
# Directories that are fine to hold ours below them, but never to be ours.
SHARED_DIRS = frozenset(
    {
        "/",
        "/home",
        "/media",
        "/mnt",
        "/opt",
        "/srv",
        "/tmp",
        "/var",
        "/var/cache",
        "/var/lib",
        "/var/tmp",
        "/usr/local",
    }
)
PATH_CHARS = re.compile(r"^[A-Za-z0-9._/+@-]+$")


def _in_tree(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def unsafe_dir(path: str, home: str | None = None) -> str | None:
    """Why an absolute, normalized directory path must not be one we replace, export
    or chmod (None when it may be). `home`: the user's home directory, below which
    anything may be ours (default: this process's home; "" for none, e.g. on a node)."""
    if path == "/":
        return "it is the root directory"
    home = _home() if home is None else home
    if home and home != "/":
        if path == home:
            return f"{path} is your home directory"
        if path.startswith(home + "/"):
            return None
    for tree in SYSTEM_TREES:
        if _in_tree(path, tree):
            return f"it is in {tree}, a system directory"
    if path in SHARED_DIRS:
        return f"{path} is a shared system directory"
    parts = path.strip("/").split("/")
    if parts[0] == "home" and len(parts) == 2:
        return f"{path} is a home directory"
    return None


def _home() -> str | None:
    try:
        return str(Path.home())
    except (RuntimeError, KeyError):
        return None


def _normalized(path: str) -> str:
    if not PATH_CHARS.fullmatch(path):
        raise ValueError(
            "may hold only letters, digits and . _ / + @ - (no spaces, quotes, "
            "shell characters or control characters)"
        )
    if posixpath.normpath(path) != path or "//" in path:
        raise ValueError(
            f"is not normalized: write {posixpath.normpath(path)!r} "
            "(no '.', '..', double or trailing '/')"
        )
    return path


def node_dir(value: str) -> str:
    """An absolute, normalized directory on a node that provision may create and open up."""
    if not value.startswith("/"):
        raise ValueError("must be an absolute path (starting with '/')")
    _normalized(value)
    reason = unsafe_dir(value, home="")
    if reason:
        raise ValueError(f"cannot be {value}: {reason}")
    return value


def host_dir(value: str) -> str:
    """A directory on this host that provision replaces as a whole: absolute or under
    `~/`, normalized, not the root, a home or a system directory."""
    if value == "~" or value == "~/":
        raise ValueError("cannot be your home directory: name a directory below it")
    if value.startswith("~") and not value.startswith("~/"):
        raise ValueError("only '~/' may start it (not '~user')")
    rest = value[1:] if value.startswith("~/") else value
    if not rest.startswith("/"):
        raise ValueError("must be an absolute path or start with '~/'")
    _normalized(rest)
    full = os.path.expanduser(value) if value.startswith("~/") else value
    reason = unsafe_dir(full)
    if reason:
        raise ValueError(f"cannot be {value}: {reason}")
    return value


def file_path(value: str) -> str:
    """A file on this host that provision reads (keys, known_hosts)."""
    if value.startswith("-"):
        raise ValueError("must not start with '-'")
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError("must not hold control characters (newlines, tabs)")
    if any(c in "'\"`$;|&<>" for c in value):
        raise ValueError("must not hold quotes or shell characters (' \" ` $ ; | & < >)")
    return value


# --- images and registries -----------------------------------------------------------

# The reference grammar of the OCI distribution spec (and Docker's reference package),
# written out: [domain[:port]/]path[:tag][@digest].
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:]+\])(?::[0-9]{{1,5}})?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REF = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
REGISTRY_PREFIX = re.compile(rf"^{_DOMAIN}(?:/{_COMPONENT})*$")


def image_ref(value: str) -> str:
    m = IMAGE_REF.fullmatch(value)
    if not m:
        raise ValueError(
            "is not an image reference ([registry[:port]/]path[:tag][@digest], lower-case path)"
        )
    if len(m["name"]) > 255:
        raise ValueError("the repository name is longer than 255 characters")
    if not m["tag"] and not m["digest"]:
        raise ValueError("names no tag or digest: pin one, e.g. :1.2.3")
    return value


def _is_loopback_host(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def registry_mirror(value: str) -> str:
    """`host[:port][/path]` (an `https://` prefix and a trailing '/' are dropped): the
    prefix that replaces upstream registries in image references."""
    if value == "":
        return value
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme != "https":
            raise ValueError(
                f"scheme {parts.scheme}:// is not allowed: registries are reached over https "
                "(write host[:port][/path])"
            )
        if "@" in parts.netloc:
            raise ValueError("holds credentials: configure them in containerd, not here")
        if parts.query or parts.fragment:
            raise ValueError("must not hold a query or fragment")
        value = value.split("://", 1)[1]
    if "@" in value:
        raise ValueError("holds credentials: configure them in containerd, not here")
    value = value.rstrip("/")
    if not REGISTRY_PREFIX.fullmatch(value):
        raise ValueError("is not a registry: write host[:port][/path], e.g. mirror.lab:5000")
    return value


def download_url(value: str) -> str:
    """An https URL without credentials (http only to this machine's loopback, where
    nothing on the network sits in between; downloads are checked by sha256 anyway)."""
    if any(ord(c) <= 32 or c == "\x7f" for c in value):
        raise ValueError("must not hold spaces or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError as e:
        raise ValueError(f"is not a URL: {e}") from None
    if parts.scheme == "http" and not _is_loopback_host(parts.hostname):
        raise ValueError("must be an https URL (http only to 127.0.0.1 or localhost)")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an https URL such as https://dl.k8s.io/release")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials (user:password@)")
    if parts.query or parts.fragment:
        raise ValueError("must not hold a query or fragment")
    return value


# --- time zones and SQL ----------------------------------------------------------------

TZ_NAME = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(value: str) -> str:
    zones = _time_zones()
    if not TZ_NAME.fullmatch(value) or (zones and value not in zones and value != "UTC"):
        raise ValueError("is not a time zone of the tz database (e.g. UTC, Europe/Berlin)")
    return value


SQL_RESERVED_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
SQL_RESERVED_USERS = frozenset({"root", "mysql", "mariadb", "sys"})


def sql_database(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", value):
        raise ValueError("must be an SQL name: a letter or '_', then letters, digits, '_' (≤ 64)")
    if value.lower() in SQL_RESERVED_SCHEMAS:
        raise ValueError(f"'{value}' is a system schema of the server")
    return value


def sql_user(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", value):
        raise ValueError("must be an SQL name: a letter or '_', then letters, digits, '_' (≤ 32)")
    if value.lower() in SQL_RESERVED_USERS:
        raise ValueError(f"'{value}' is an administrative account of the server")
    return value
