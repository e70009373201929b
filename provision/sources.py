"""Where software comes from: resolve the `auto` choices of the config once.

online: upstream package repositories and release downloads (real users).
bundle: an offline bundle directory made by `provision bundle build` (the lab).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provision.config.model import ClusterConfig

BUNDLE_MANIFEST = "manifest.json"
# Where the docker provider mounts the bundle, read-only, in every node; the roles
# install from there when its manifest is this bundle's (role bundle_source).
BUNDLE_ON_NODE = "/opt/provision/bundle"


@dataclass(frozen=True)
class Sources:
    artifacts: str  # online | bundle
    bundle_dir: Path
    docker: str  # upstream | distribution


def bundle_dir(config: ClusterConfig) -> Path:
    return Path(config.artifacts.bundle_dir).expanduser()


def resolve_sources(config: ClusterConfig) -> Sources:
    directory = bundle_dir(config)
    artifacts = config.artifacts.source
    if artifacts == "auto":
        artifacts = "bundle" if (directory / BUNDLE_MANIFEST).is_file() else "online"
    docker = config.runtime.docker_source
    if docker == "auto":
        docker = "distribution" if artifacts == "bundle" else "upstream"
    return Sources(artifacts, directory, docker)


def runtime_packages(config: ClusterConfig) -> dict[str, str]:
    """What the runtime phase installs for `versions.docker` and `versions.containerd`:
    the pinned packages of Docker's apt repository, or the distribution's own packages
    at the version the nodes' Debian carries (known only on the nodes; the pins unused)."""
    if resolve_sources(config).docker == "upstream":
        return {
            "docker": f"docker-ce {config.versions.docker}",
            "containerd": f"containerd.io {config.versions.containerd}",
        }
    return {"docker": "docker.io (Debian's version)", "containerd": "containerd (Debian's version)"}
