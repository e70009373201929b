"""NFS storage: the server on addons.nfs.server_node (NFS-Ganesha in a container
node, the kernel's server on a VM, set up by the role addons_nodes), the
StorageClass `nfs`, and either the nfs-subdir-external-provisioner (dynamic) or a
PersistentVolume per add-on claim on its own directory of the export (static),
all in nfs.yaml.j2. verify lists the export over NFSv4 from a worker and finds the
marker the addons phase left in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provision.addons.base import Addon, Check, CheckFailed
from provision.config.model import ClusterConfig
from provision.remote import Shell
from provision.shared import NFS_MARKER


def nfs_export(server_ip: str, export_path: str) -> Callable[[Shell], str]:
    """From a worker: list the export over NFSv4 with a userspace client (lab nodes
    cannot mount NFS) and find the marker file the addons phase left in it."""

    def run(sh) -> str:
        url = f"nfs://{server_ip}{export_path}?version=4"
        out = sh(["nfs-ls", url])
        if MARKER not in out:
            raise CheckFailed(f"{url} lists no {MARKER}: {out.strip()!r}")
        return f"listed {url} over NFSv4 from a worker (userspace client), marker found"

    return run


MARKER = NFS_MARKER  # provision/shared_defaults.yml, as the role addons_nodes has it


@dataclass(frozen=True)
class Nfs(Addon):
    def workload(self, config: ClusterConfig, part: str) -> str | None:
        if config.addons.nfs.provisioner == "static":
            return None  # no provisioner pod: provision makes the volumes
        return super().workload(config, part)

    def more_checks(self, config: ClusterConfig, deployed: list[str]) -> list[Check]:
        server = config.node(config.nfs_server)
        return [
            Check(
                "nfs",
                "export listed over NFSv4",
                nfs_export(str(server.ip), config.addons.nfs.export_path),
                on="worker" if config.workers else "control-plane",
            )
        ]


ADDON = Nfs(
    name="nfs",
    package=__name__,
    parts=("nfs",),
    images={
        "nfs_provisioner": ("registry.k8s.io/sig-storage/nfs-subdir-external-provisioner", "v{v}")
    },
    workloads={"nfs": "deployment/nfs-provisioner"},
)
