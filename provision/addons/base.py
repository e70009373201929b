"""What an add-on is: one folder in provision/addons/ (its manifest templates, its
checks, the scripts that put its data back) with an `Addon` in its __init__.py,
and a line in provision/addons/registry.py. Everything that makes, checks, backs
up or restores add-ons asks the registry; nothing else names an add-on.

Also here: what an add-on's check is, and the helpers checks share (a command in a
pod, a fresh token, the probe image the join phase made)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources

from provision.bundle.addon_images import ImageRecipe
from provision.config.model import ClusterConfig
from provision.errors import ProvisionError
from provision.remote import Shell, kubectl
from provision.shared import ADDONS_NAMESPACE

NS = ADDONS_NAMESPACE


class CheckFailed(ProvisionError):
    pass


@dataclass(frozen=True)
class Check:
    addon: str  # cluster, mysql, rabbitmq, zipkin, elk, nfs, storage
    name: str
    run: Callable[[Shell], str]  # (run argv on `on`) -> detail
    real: bool = True  # False: validated only (dry run)
    on: str = "control-plane"  # or "worker": the first worker


def token() -> str:
    return "provision-" + secrets.token_hex(6)


def in_pod(pod: str, script: str, container: str | None = None) -> list[str]:
    """kubectl exec running a shell script in a pod, as argv."""
    c = ["-c", container] if container else []
    return kubectl("-n", NS, "exec", pod, *c, "--", "sh", "-c", script)


def probe_image(sh) -> str:
    """The busybox probe image the join phase made on every node (cluster_probe)."""
    found = sh(["ctr", "-n", "k8s.io", "images", "ls", "-q"], check=False).split()
    found += sh(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], check=False
    ).split()
    image = next((i for i in found if i.startswith("provision.local/probe:")), "")
    if not image:
        raise CheckFailed("no probe image on the control plane (the join phase makes it)")
    return image


@dataclass(frozen=True)
class DataPart:
    """Data of an add-on that a backup carries and a restore puts back: printed by
    `export` in `pod`, loaded by the script `load` of the add-on's folder, which
    reads it on its stdin (after the lab's root password when `password`)."""

    path: str  # in the archive, e.g. mysql/dump.sql
    pod: str
    claim: str  # the claim whose volume holds it
    export: str  # a shell command run in the pod
    load: str  # a script in the add-on's folder
    password: bool = False


@dataclass(frozen=True)
class Addon:
    """One add-on. `parts` are its manifests (<part>.yaml.j2 in its folder), in
    apply order; the config section is addons.<name>."""

    name: str
    package: str  # the add-on's folder, as a package (its templates and scripts)
    parts: tuple[str, ...]
    # component -> (repository, tag format) of the upstream image it runs
    images: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # the images `provision bundle build` makes of it for labs no registry serves
    # (addons.images names them), each with its entry script in the folder
    built_images: tuple[ImageRecipe, ...] = ()
    node_ports: Mapping[str, int] = field(default_factory=dict)
    # part -> what `rollout status` waits for
    workloads: Mapping[str, str] = field(default_factory=dict)
    # part -> its real checks, run when the part is deployed
    part_checks: Mapping[str, tuple[Check, ...]] = field(default_factory=dict)
    # the claims of the volumes it keeps data on, each of addons.<name>.storage_gb
    volumes: tuple[str, ...] = ()
    data: tuple[DataPart, ...] = ()

    def claims(self, config: ClusterConfig) -> list[tuple[str, int]]:
        """(claim, size in GiB) of each volume it keeps data on."""
        size = getattr(getattr(config.addons, self.name), "storage_gb", 0)
        return [(claim, size) for claim in self.volumes]

    def workload(self, config: ClusterConfig, part: str) -> str | None:
        """What `rollout status` waits for of a deployed part (None: no pod)."""
        return self.workloads.get(part)

    def more_checks(self, config: ClusterConfig, deployed: list[str]) -> list[Check]:
        """Checks beyond each deployed part's own (run after all of those)."""
        return []

    def script(self, name: str) -> str:
        """The text of a script in the add-on's folder."""
        return resources.files(self.package).joinpath(name).read_text(encoding="utf-8")
