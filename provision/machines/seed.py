"""The docker provider's image seed: the bundle's images, imported once.

Importing the images into containerd on every node, on every new machine, is
CPU-bound: on 2 cores it cost 19 s of the kubernetes phase and 29 s of the
add-ons, and most of a replaced worker's time. As kind ships a node image whose
containerd already holds the Kubernetes images, the docker provider imports them
once into a Docker volume, the seed, keyed by a hash of the node image and the
bundle's images.

The seed holds two containerd roots, one per node role, as the roles would load
them: `control-plane` (every image) and `worker` (no control-plane static pod
image, as kube_images leaves them out). `complete` is written last: a seed
without it was interrupted, and is made again.

A new node's containerd store is its own named volume, filled from the seed
before the node is created. Where the engine keeps both volumes on one
filesystem (its local driver), the store's image files are hard links to the
seed's (about a second, against 17 s to copy 3 x 3 GB on this disk): committed
snapshot layers and content blobs are never written in place, and the bolt
databases containerd does write are real copies. Elsewhere the store is copied.
VMs and existing hosts get no seed: kube_images imports from the bundle there
(the unbaked path).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.errors import HostError
from provision.machines.docker import docker, labels

LABEL = "io.provision.seed"
STORE_ON_NODE = "/var/lib/containerd"
FORMAT = 1
SAFE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
SAFE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
# The builder's containerd: the node's own binary, CRI off (only the store is
# made), its root on the seed volume.
CONTAINERD_CONFIG = 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
# A containerd root made from another by hard links; containerd writes its bolt
# databases in place, so those are real copies. Committed snapshot layers and
# content blobs are never written in place (a container writes its own upper
# directory, a removed image's files are unlinked).
LINK_COPY = r"""
link_copy() {
  mkdir -p "$2"
  cp -a --link "$1/." "$2/"
  find "$1" -name '*.db' -type f | while read -r db; do
    cp -a --remove-destination "$db" "$2/${db#"$1"/}"
  done
}
"""
BUILD = (
    LINK_COPY
    + r"""set -eu
cfg=/run/seed-containerd.toml
printf '%s' "$SEED_CONFIG" > "$cfg"
sock=/run/seed-containerd.sock
start() {
  containerd --config "$cfg" --root "/seed/$1" --state /run/seed-state \
    --address "$sock" >"/run/containerd-$1.log" 2>&1 &
  pid=$!
  i=0
  until ctr --address "$sock" version >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then cat "/run/containerd-$1.log" >&2; exit 1; fi
    sleep 0.1
  done
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }
start control-plane
for tar in $SEED_IMAGES; do
  echo "import $tar"
  ctr --address "$sock" -n k8s.io images import --no-unpack=false "/bundle/$tar" >/dev/null
done
stop
link_copy /seed/control-plane /seed/worker
start worker
for ref in $SEED_CONTROL_PLANE_ONLY; do
  echo "worker: remove $ref"
  ctr --address "$sock" -n k8s.io images rm --sync "$ref" >/dev/null
done
stop
date -u +%FT%TZ > /seed/complete
"""
)


@dataclass(frozen=True)
class Seed:
    volume: str
    images: dict[str, str]  # reference -> tar path in the bundle
    control_plane_only: tuple[str, ...]


def control_plane_only_names() -> tuple[str, ...]:
    """kube_images_control_plane_only from the role's defaults: the one list."""
    from provision.project import role_default

    return tuple(role_default("kube_images", "kube_images_control_plane_only", "image seed"))


def plan_seed(image_tag: str, bundle_dir: Path, kubernetes: str) -> Seed:
    """What the seed for this node image and bundle holds, and its volume name."""
    from provision.bundle.manifest import read_manifest

    artifacts = [
        a for a in read_manifest(bundle_dir, kubernetes) if a.kind in ("image", "addon-image")
    ]
    for a in artifacts:  # they reach a shell's word list: plain names only
        plain = SAFE_PATH.fullmatch(a.path) and ".." not in a.path.split("/")
        if not (plain and SAFE_REF.fullmatch(a.name)):
            raise HostError(
                f"image seed: {bundle_dir / 'manifest.json'}: artifact {a.name!r} "
                f"({a.path!r}) is not a plain image reference and relative path\n"
                "  fix: rebuild the bundle with `provision bundle build`"
            )
    names = control_plane_only_names()
    pattern = re.compile(r"/(" + "|".join(map(re.escape, names)) + r"):")
    cp_only = tuple(
        sorted(a.name for a in artifacts if a.kind == "image" and pattern.search(a.name))
    )
    key = {
        "image": image_tag,
        "images": sorted((a.name, a.path, a.sha256) for a in artifacts),
        "control_plane_only": cp_only,
        "build": BUILD,
        "config": CONTAINERD_CONFIG,
        "format": FORMAT,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return Seed(
        volume=f"provision-seed-{digest[:12]}",
        images={a.name: a.path for a in artifacts},
        control_plane_only=cp_only,
    )


def _complete(seed: Seed, image_tag: str) -> bool:
    if docker("volume", "inspect", seed.volume, check=False).returncode != 0:
        return False
    probe = docker(
        "run", "--rm", "--network", "none", "-v", f"{seed.volume}:/seed:ro",
        "--entrypoint", "test", image_tag, "-s", "/seed/complete",
        check=False,
    )  # fmt: skip
    return probe.returncode == 0


def ensure_seed(
    seed: Seed, image_tag: str, bundle_dir: Path, say: Callable[[str], None] = print
) -> bool:
    """Make the seed volume unless it is complete; True when it was made now."""
    if _complete(seed, image_tag):
        say(f"image seed {seed.volume} is cached")
        return False
    started = time.monotonic()
    say(f"image seed {seed.volume}: importing {len(seed.images)} images once for every node")
    # An interrupted build (its builder may still run: stopping the docker
    # client does not stop a container) is thrown away, then made again.
    builder = f"{seed.volume}-build"
    docker("rm", "-f", builder, check=False)
    docker("volume", "rm", "-f", seed.volume, check=False)
    docker("volume", "create", "--label", f"{LABEL}={seed.volume}", seed.volume)
    tars = sorted(set(seed.images.values()))
    out = docker(
        "run", "--rm", "--name", builder, "--network", "none",
        # containerd mounts overlays: the node's capabilities, not --privileged
        "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--tmpfs", "/run", "--tmpfs", "/tmp",
        "-v", f"{seed.volume}:/seed", "-v", f"{bundle_dir}:/bundle:ro",
        "-e", f"SEED_CONFIG={CONTAINERD_CONFIG}",
        "-e", f"SEED_IMAGES={' '.join(tars)}",
        "-e", f"SEED_CONTROL_PLANE_ONLY={' '.join(seed.control_plane_only)}",
        "--entrypoint", "/bin/sh", image_tag, "-c", BUILD,
        check=False, timeout=3600,
    )  # fmt: skip
    if out.returncode != 0:
        docker("volume", "rm", "-f", seed.volume, check=False)
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-15:])
        raise HostError(
            f"image seed: the import into {seed.volume} failed (exit {out.returncode})\n{tail}\n"
            "  fix: check the bundle (`provision bundle build`), then run `provision up` again"
        )
    say(f"image seed {seed.volume} made in {time.monotonic() - started:.0f} s")
    _prune(seed)
    return True


def _prune(keep: Seed) -> None:
    """Remove the older seeds once a new one is made (the nodes' stores made from
    them keep their files: hard links outlive the seed's names)."""
    old = docker("volume", "ls", "-q", "--filter", f"label={LABEL}").stdout.split()
    for volume in old:
        if volume != keep.volume:
            docker("volume", "rm", volume, check=False)


def store_volume(cluster: str, node: str) -> str:
    """The named volume that holds a node's containerd store."""
    return f"{cluster}-{node}-containerd"


# Fills each store volume (STORES: "volume:role ...") from the seed: hard links
# when both are under one mount (/volumes), else a copy (/seed and /stores/NAME).
FILL = (
    LINK_COPY
    + r"""set -eu
for pair in $STORES; do
  volume=${pair%%:*} role=${pair#*:}
  if [ -d /volumes ]; then
    link_copy "/volumes/$SEED/_data/$role" "/volumes/$volume/_data"
  else
    cp -a "/seed/$role/." "/stores/$volume/"
  fi
done
"""
)


def fill_stores(
    seed: Seed,
    image_tag: str,
    cluster: str,
    roles: dict[str, str],
    label: str,
    identity: dict[str, str] | None = None,
) -> None:
    """Make each node's store volume ({node: role}) afresh, filled from the seed. The
    volumes carry `identity` (the lab's labels); a leftover of an interrupted run is
    removed first only when it carries them too."""
    identity = identity or {label: cluster}
    stores = {store_volume(cluster, node): role for node, role in roles.items()}
    label_args = [a for k, v in identity.items() for a in ("--label", f"{k}={v}")]
    for volume, node in zip(stores, roles, strict=True):
        existing = labels("volume", volume)
        if existing is not None:
            if any(existing.get(k) != v for k, v in identity.items()):
                raise HostError(
                    f"image seed: volume {volume} exists but is not this lab's "
                    f"(labels {existing})\n"
                    f"  fix: remove it (`docker volume rm {volume}`) if nothing uses it, "
                    "or give this lab another cluster.name"
                )
            docker("volume", "rm", "-f", volume, check=False)  # a leftover of this lab's
        docker(
            "volume", "create", *label_args, "--label", f"io.provision.node={node}", volume,
        )  # fmt: skip
    parents = {Path(_mountpoint(v)).parent.parent for v in (seed.volume, *stores)}
    if len(parents) == 1:
        mounts = ["-v", f"{parents.pop()}:/volumes"]
    else:
        mounts = ["-v", f"{seed.volume}:/seed:ro"]
        for volume in stores:
            mounts += ["-v", f"{volume}:/stores/{volume}"]
    out = docker(
        "run", "--rm", "--network", "none", *mounts,
        "-e", f"SEED={seed.volume}",
        "-e", "STORES=" + " ".join(f"{v}:{r}" for v, r in stores.items()),
        "--entrypoint", "/bin/sh", image_tag, "-c", FILL,
        check=False,
    )  # fmt: skip
    if out.returncode != 0:
        for volume in stores:
            docker("volume", "rm", "-f", volume, check=False)
        raise HostError(
            f"image seed: filling {', '.join(stores)} from {seed.volume} failed "
            f"(exit {out.returncode})\n{out.stderr.strip()[-800:]}\n"
            "  fix: run `provision up` again (the seed is checked and made again if needed)"
        )


def _mountpoint(volume: str) -> str:
    return docker("volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip()
