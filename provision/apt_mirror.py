"""The Debian mirror this host already uses, read from its own apt configuration.

Node images are built from the same mirror, so the lab works wherever the host's
apt works (a local mirror, a proxy, or the public archive).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from provision.errors import HostError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def host_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """Every `deb` source of the host: deb822 *.sources and one-line *.list files."""
    found: list[AptSource] = []
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        found.extend(_deb822(path.read_text(encoding="utf-8", errors="replace")))
    for path in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            found.extend(_one_line(path.read_text(encoding="utf-8", errors="replace")))
    return found


def mirror_for(suite: str, apt_dir: Path = APT_DIR) -> AptSource:
    """The first host source that carries `suite` (e.g. bookworm)."""
    for source in host_sources(apt_dir):
        if suite in source.suites:
            return source
    raise HostError(
        f"no apt source of this host carries Debian {suite} (read {apt_dir}/sources.list"
        " and sources.list.d/)\n"
        f"  fix: add a deb source for {suite} to the host's apt configuration"
    )


def _deb822(text: str) -> list[AptSource]:
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append(
                AptSource(
                    uri,
                    tuple(fields.get("suites", "").split()),
                    tuple(fields.get("components", "main").split()),
                )
            )
    return out


def _one_line(text: str) -> list[AptSource]:
    out = []
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) < 3 or words[0] != "deb":
            continue
        words = words[1:]
        if len(words) >= 2:
            out.append(AptSource(words[0], (words[1],), tuple(words[2:]) or ("main",)))
    return out
