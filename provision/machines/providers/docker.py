"""Container nodes: Vagrant's docker provider, one systemd container per node on
this host's Docker engine (machines/docker.py), made from the node image
(node_image.py), each node's containerd store filled from the image seed
(seed.py) where it can be. Everything the provider makes carries the lab's
identity (LABEL, LAB_LABEL): provision removes a container or volume only when
it carries this lab's, never by cluster name alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

from provision.config import compat
from provision.config.model import ClusterConfig
from provision.errors import MachinesError
from provision.files import read_json, refuse
from provision.machines.base import Check, tool_check
from provision.machines.docker import docker, engine_running, labels
from provision.machines.node_image import INIT_PATH, LOGIN_HOME, LOGIN_USER
from provision.machines.seed import STORE_ON_NODE, store_volume
from provision.machines.vagrant import SPEC, VagrantMachines, key_line, spec_fix
from provision.sources import BUNDLE_ON_NODE, resolve_sources

LABEL = "io.provision.cluster"
# The lab's identity (its state key, <inventory>-<hash>)
LAB_LABEL = "io.provision.lab"


def docker_create_args(
    cluster: str,
    authorized_keys: Path,
    bundle: Path | None = None,
    seeded: bool = False,
    lab: str | None = None,
) -> list[str]:
    """Flags that boot a systemd node container without --privileged (docs/machines.md:
    "Machines"): every capability but CAP_SYS_RESOURCE, which a sandboxed Docker
    engine may not grant, every device, seccomp and AppArmor unconfined. The volumes
    give containerd, Docker and the kubelet a real filesystem; they start empty,
    so creating several nodes at once does not race on copying image content.

    With an offline bundle, it is mounted read-only at BUNDLE_ON_NODE: the roles
    install binaries and import images from there instead of copying each file
    over SSH (kind mounts nothing like it: its node image already holds them).
    A path `-v` cannot carry (one with a colon) is not mounted; the roles copy.
    With an image seed (machines/seed.py), each node's containerd store is its
    own named volume instead (node_store_args).
    """
    mounts = []
    if bundle is not None and ":" not in str(bundle):
        mounts = ["-v", f"{bundle}:{BUNDLE_ON_NODE}:ro"]
    identity = ["--label", f"{LAB_LABEL}={lab}"] if lab else []
    return [
        "--label",
        f"{LABEL}={cluster}",
        *identity,
        "--cap-add",
        "ALL",
        "--cap-drop",
        "SYS_RESOURCE",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "systempaths=unconfined",
        "--device-cgroup-rule",
        "a *:* rwm",
        "--device",
        "/dev/kmsg",
        "--device",
        "/dev/fuse",
        "--cgroupns",
        "private",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "--tmpfs",
        "/tmp",
        *([] if seeded else ["-v", STORE_ON_NODE]),
        "-v",
        "/var/lib/docker",
        "-v",
        "/var/lib/kubelet",
        # The lab's public key, for the login user (as in a Vagrant box) and for root.
        "-v",
        f"{authorized_keys}:{LOGIN_HOME}/.ssh/authorized_keys:ro",
        "-v",
        f"{authorized_keys}:/root/.ssh/authorized_keys:ro",
        *mounts,
        "--stop-signal",
        "SIGRTMIN+3",
    ]


def node_store_args(cluster: str, node: str) -> list[str]:
    """A seeded node's containerd store: its named volume, filled from the seed."""
    return ["-v", f"{store_volume(cluster, node)}:{STORE_ON_NODE}"]


def export_volume(cluster: str, node: str) -> str:
    """The named volume that holds the NFS export on a container node. It outlives a
    halt, an engine restart and a replaced node, and, unlike the container's overlayfs,
    it has the file handles NFS-Ganesha serves by."""
    return f"{cluster}-{node}-nfs-export"


class DockerMachines(VagrantMachines):
    provider: ClassVar[str] = "docker"
    containers: ClassVar[bool] = True
    # Vagrant's own stop timeout for a container is 1 s, which kills the add-ons'
    # databases mid-write.
    HALT_TIMEOUT_S: ClassVar[int] = 90

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._image: str | None = None  # set by prepare(); else what machines.json records
        self._seed = None  # the image seed plan, set by prepare()

    # -- this host ---------------------------------------------------------------
    @classmethod
    def host_checks(cls, config: ClusterConfig) -> list[Check]:
        client = tool_check("docker", "scripts/host-setup (or apt-get install docker.io)")
        checks = [
            *super().host_checks(config),
            client,
            tool_check("debootstrap", "scripts/host-setup (or apt-get install debootstrap)"),
            tool_check("ssh-keygen", "apt-get install openssh-client"),
        ]
        running = client.ok and engine_running()
        checks.append(
            Check(
                "Docker engine",
                running,
                "running" if running else "not answering",
                "scripts/host-setup (starts dockerd)",
            )
        )
        checks.append(
            Check(
                "root",
                os.geteuid() == 0,
                f"uid {os.geteuid()}",
                "run as root: debootstrap and docker import need it",
            )
        )
        return checks

    @classmethod
    def needed_memory_mb(cls, config: ClusterConfig) -> int:
        """Container nodes use what their work needs (VMs reserve theirs)."""
        reserved = sum(compat.NODE_RESERVED_MB[n.role] for n in config.nodes)
        return reserved + sum(compat.addon_memory_mb(config.addons, len(config.workers)).values())

    @classmethod
    def needed_disk_gb(cls, config: ClusterConfig) -> int:
        return 10

    # -- machines.json -------------------------------------------------------------
    def seed_plan(self, image: str):
        """The image seed for this lab, or None: only nodes with containerd from
        Debian (the node image's) and images from a bundle the engine can mount get
        one."""
        from provision.machines.seed import plan_seed

        sources = resolve_sources(self.config)
        if (
            sources.artifacts != "bundle"
            or sources.docker != "distribution"
            or self.config.runtime.cri != "containerd"
            or ":" in str(sources.bundle_dir)
        ):
            return None
        return plan_seed(image, sources.bundle_dir, self.config.versions.kubernetes)

    def prepare(self) -> None:
        from provision.machines.node_image import ensure_image

        self._image, _ = ensure_image(self.inv.cache_dir, say=self.log.say)
        self._seed = self.seed_plan(self._image)

    def spec_extra(self, teardown: bool = False) -> dict:
        from provision.machines.keys import ensure_key
        from provision.machines.node_image import image_tag

        sources = resolve_sources(self.config)
        key = ensure_key(self.state_dir, f"provision-{self.config.cluster.name}")
        if self._image is not None:
            image, seed = self._image, (self._seed.volume if self._seed else None)
        else:
            image, seed = self._recorded("image") or image_tag(), self._recorded("seed")
        return {
            "docker": {
                "image": image,
                "seed": seed,
                # Per node: a seeded node's containerd store, the NFS server's
                # export (the Vagrantfile adds them to create_args).
                "node_args": self._node_args(seeded=seed is not None),
                "cmd": [INIT_PATH],
                "private_key": str(key),
                "ssh_user": LOGIN_USER,
                "create_args": docker_create_args(
                    self.config.cluster.name,
                    key.parent / "authorized_keys",
                    sources.bundle_dir
                    if sources.artifacts == "bundle" and self.config.artifacts.mount_bundle
                    else None,
                    seeded=seed is not None,
                    lab=self.lab_key,
                ),
            }
        }

    def _node_args(self, seeded: bool) -> dict[str, list[str]]:
        cluster = self.config.cluster.name
        args = {
            n.name: node_store_args(cluster, n.name) if seeded else [] for n in self.config.nodes
        }
        nfs = self.config.addons.nfs
        if nfs.enabled:
            server = self.config.nfs_server
            args[server] += ["-v", f"{export_volume(cluster, server)}:{nfs.export_path}"]
        return args

    def _recorded(self, key: str):
        """What machines.json records for the docker provider (None when it does not)."""
        path = self.spec_path
        recorded = (read_json(path, SPEC, fix=spec_fix(path)) or {}).get("docker")
        if recorded is None:
            return None
        if not isinstance(recorded, dict) or not isinstance(recorded.get(key), str | None):
            raise refuse(path, SPEC, f"docker.{key} is not a string or null", spec_fix(path))
        return recorded.get(key)

    # -- up ------------------------------------------------------------------------
    def before_create(self, new: list[str]) -> None:
        if self._seed is not None and new:
            self._seed_stores(new)
        if self.config.nfs_server in new:
            self._export_volume()

    def bring_up(self, todo: list[str]) -> None:
        """The docker provider brings machines up in parallel by itself. A creation
        racing another's `docker inspect` can fail; once more settles it (the
        machines already made are kept)."""
        if self._vagrant_up(todo) != 0:
            self.log.say("machines: vagrant up failed once; retrying")
            self._raise_unless_ok(self._vagrant_up(todo), todo)

    def _seed_stores(self, new: list[str]) -> None:
        """The seed made if needed, then a fresh store for each node not yet created
        (a stopped node keeps its own)."""
        from provision.machines.seed import ensure_seed, fill_stores

        assert self._image is not None and self._seed is not None
        bundle = resolve_sources(self.config).bundle_dir
        ensure_seed(self._seed, self._image, bundle, say=self.log.say)
        roles: dict[str, str] = {n.name: n.role for n in self.config.nodes if n.name in new}
        started = time.monotonic()
        fill_stores(
            self._seed, self._image, self.config.cluster.name, roles, LABEL, self._identity()
        )
        self.log.say(
            f"machines: containerd stores of {', '.join(new)} filled from the seed "
            f"in {time.monotonic() - started:.1f} s"
        )

    def _export_volume(self) -> None:
        """The NFS export's volume, made with this lab's labels before its node is
        created; one left by this lab (a replaced node) is kept with its files."""
        if not self.config.addons.nfs.enabled:
            return
        server = self.config.nfs_server
        volume = export_volume(self.config.cluster.name, server)
        if labels("volume", volume) is not None:
            if not self._carries_identity(volume, kind="volume"):
                raise MachinesError(
                    f"volume {volume} exists but is not this lab's ({LAB_LABEL} "
                    f"{self.lab_key}; its labels: {labels('volume', volume)})\n"
                    f"  fix: remove it (`docker volume rm {volume}`) if nothing uses it, "
                    "or give this lab another cluster.name"
                )
            return
        ids = [a for k, v in self._identity().items() for a in ("--label", f"{k}={v}")]
        docker("volume", "create", *ids, "--label", f"io.provision.node={server}", volume)

    # -- state and host keys, through the engine ------------------------------------
    def engine_states(self) -> dict[str, str] | None:
        out = docker(
            "ps",
            "-a",
            *self._identity_filters(),
            "--format",
            "{{.Names}}\t{{.State}}",
            check=False,
            timeout=30,
        )
        if out.returncode != 0:
            return None
        found = dict(line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
        states = {}
        for n in self.config.nodes:
            state = found.get(f"{self.config.cluster.name}-{n.name}")
            states[n.name] = (
                "not_created" if state is None else "running" if state == "running" else "stopped"
            )
        return states

    def host_key(self, name: str) -> tuple[str, str]:
        """Read through the Docker engine on this host (`docker exec`), a local
        channel that involves no network and no SSH, so the pinned key is the one
        the container really holds."""
        container = f"{self.config.cluster.name}-{name}"
        if not self._carries_identity(container):
            raise MachinesError(
                f"container {container} is not a node of this lab (cluster "
                f"{self.config.cluster.name}, {LAB_LABEL} {self.lab_key}; its labels: "
                f"{labels('container', container)})\n"
                "  fix: run `provision destroy`, then `provision up`"
            )
        out = docker("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
        return key_line(name, out.stdout + out.stderr, "the Docker engine")

    # -- identity --------------------------------------------------------------------
    def _identity(self) -> dict[str, str]:
        return {LABEL: self.config.cluster.name, LAB_LABEL: self.lab_key}

    def _identity_filters(self) -> list[str]:
        """docker ps/volume ls filters matching this lab's objects only (ANDed)."""
        return [a for k, v in self._identity().items() for a in ("--filter", f"label={k}={v}")]

    def _carries_identity(self, name: str, kind: str = "container") -> bool:
        """The Docker object of that name exists and is this lab's (both labels)."""
        found = labels(kind, name)
        return found is not None and all(found.get(k) == v for k, v in self._identity().items())

    # -- destroy ---------------------------------------------------------------------
    def destroy_one(self, name: str) -> None:
        # The node is being thrown away: removed at once, not shut down (a node's
        # systemd takes seconds to stop); Vagrant then finds it gone.
        container = f"{self.config.cluster.name}-{name}"
        if self._carries_identity(container):
            docker("rm", "-f", "-v", container)
        super().destroy_one(name)
        volume = store_volume(self.config.cluster.name, name)
        if self._carries_identity(volume, kind="volume"):
            docker("volume", "rm", "-f", volume, check=False)

    def destroy(self) -> None:
        self._remove_containers()  # at once, as in destroy_one
        super().destroy()
        self._sweep_docker()

    def _remove_containers(self) -> int:
        """Remove the lab's containers (with their anonymous volumes) at once."""
        ids = docker("ps", "-aq", *self._identity_filters()).stdout.split()
        if ids:
            docker("rm", "-f", "-v", *ids)
        return len(ids)

    def _sweep_docker(self) -> None:
        """Remove what an interrupted run may have left: labelled containers (with
        their volumes), the nodes' containerd store volumes and the private network
        once no container uses it."""
        removed = self._remove_containers()
        if removed:
            self.log.say(f"machines: removed {removed} leftover container(s)")
        stores = docker("volume", "ls", "-q", *self._identity_filters()).stdout.split()
        if stores:
            self.log.say(f"machines: removing {len(stores)} containerd store volume(s)")
            docker("volume", "rm", "-f", *stores)
        network = f"vagrant_network_{self.config.network.node_subnet}"
        inspect = docker(
            "network", "inspect", network, "--format", "{{len .Containers}}", check=False
        )
        if inspect.returncode == 0 and inspect.stdout.strip() == "0":
            self.log.say(f"machines: removing network {network}")
            docker("network", "rm", network)
