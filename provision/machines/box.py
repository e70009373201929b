"""An offline Vagrant box for libvirt: Debian bookworm built from Debian packages.

`machines.box: provision/bookworm` asks for it (hosts with internet keep a box
from the catalogue, e.g. debian/bookworm64). debootstrap from the host's own apt
mirror adds a kernel, sshd, sudo, python3 and ifupdown (DHCP on eth0; Vagrant
configures eth1); box.sh makes a disk with extlinux, converts it to qcow2 and
packs metadata.json, a box Vagrantfile and the disk into a .box, which
`vagrant box add` registers as provision/bookworm-<hash>. The hash covers this
recipe and box.sh, so a box is reused until either changes; the .box file is
kept under the cache directory like the docker node image.

Like the docker provider's node image and seed (and kind's node image), the box is
baked once so that a VM installs and imports nothing under emulation: every
package the node roles install (node_image.baked_packages(), their services
disabled until the runtime role starts them) and, when the lab's artifacts come
from a bundle, the bundle's kubeadm, kubelet, kubectl and etcdutl at the paths the
kube_packages role checks, and its Kubernetes and Calico images already in the
node's containerd store (imported at build time by the node's own containerd,
run in a chroot). The recipe's hash covers the bundle's digests: a box whose
binaries or images differ from the bundle is built again, never trusted.

SSH follows Vagrant's box contract: the image's `vagrant` user (passwordless
sudo, no password) has Vagrant's well-known insecure public key, and the lab's
Vagrantfile keeps `config.ssh.insert_key = true`, so at first boot Vagrant
replaces it with a key pair of its own for that machine (kept 0600 in the lab's
state directory) before anything else logs in. SSH host keys are not in the
image: ssh-keygen -A makes them at each VM's first boot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.apt_mirror import mirror_for
from provision.errors import HostError

OFFLINE_BOX = "provision/bookworm"
SUITE = "bookworm"
PACKAGES = (
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "sudo",
    "python3",
    "ifupdown",
    "isc-dhcp-client",
    "iproute2",
    "ca-certificates",
    "procps",
    "kmod",
    "less",
    "gnupg",
    # What `prepare` installs on every node (role node_common), baked in like
    # kind's node image: under software emulation dpkg takes minutes per run.
    "apt-transport-https",
    "conntrack",
    "curl",
    "ebtables",
    "ethtool",
    "ipset",
    "iptables",
    "socat",
    "util-linux",
    "systemd-timesyncd",
)
# Ansible's apt module on the node needs it (distro_packages).
EXTRA_PACKAGES = ("python3-apt",)
# Disabled in the box: the runtime role configures Docker and containerd, then starts
# them; addons_nodes starts the NFS server, on its server node only.
DISABLED_UNITS = ("docker.service", "docker.socket", "containerd.service", "nfs-server.service")
SCRIPT = Path(__file__).with_name("box.sh")


@dataclass(frozen=True)
class Bake:
    """What of a bundle goes into the box: (path in the bundle, path on the node,
    sha256) for each binary, (path in the bundle, sha256) for each image."""

    bundle_dir: Path
    binaries: tuple[tuple[str, str, str], ...]
    images: tuple[tuple[str, str], ...]

    def key(self) -> dict:
        return {"binaries": self.binaries, "images": self.images}


def box_packages() -> tuple[str, ...]:
    """The container node image's packages, the kernel and what a machine needs
    beyond them (the kernel's NFS client for the kubelet's NFS mounts, and its NFS
    server for the add-ons' server node)."""
    from provision.machines.node_image import baked_packages
    from provision.project import role_default

    machine_only = [
        *role_default("addons_nodes", "addons_nodes_nfs_kernel_client_packages", "box"),
        *role_default("addons_nodes", "addons_nodes_nfs_kernel_server_packages", "box"),
    ]
    return tuple(
        sorted(set(PACKAGES) | set(baked_packages()) | set(EXTRA_PACKAGES) | set(machine_only))
    )


def bake_plan(config) -> Bake | None:
    """The bundle's part of the box for this lab, or None: only a lab whose
    artifacts come from a bundle, with Debian's containerd as its CRI. The
    Kubernetes and Calico images, and the add-on images the lab's deployed add-ons
    run from the bundle."""
    from provision.bundle.addon_images import KIND as ADDON_IMAGE
    from provision.bundle.manifest import read_manifest
    from provision.machines.seed import SAFE_PATH
    from provision.project import role_default
    from provision.sources import resolve_sources

    sources = resolve_sources(config)
    if (
        sources.artifacts != "bundle"
        or sources.docker != "distribution"
        or config.runtime.cri != "containerd"
    ):
        return None
    artifacts = read_manifest(sources.bundle_dir, config.versions.kubernetes)
    # the add-on images this lab runs from the bundle (addons.images), baked in too
    wanted = set(config.addons.images.values())
    addon = {a.name for a in artifacts if a.kind == ADDON_IMAGE and a.name in wanted}
    bin_dir = role_default("kube_packages", "kube_packages_bin_dir", "box")
    dest = {b: f"{bin_dir}/{b}" for b in ("kubeadm", "kubelet", "kubectl")}
    dest["etcdutl"] = role_default("kube_packages", "kube_packages_etcdutl", "box")
    for a in artifacts:  # they reach box.sh's word lists: plain relative paths only
        if not (SAFE_PATH.fullmatch(a.path) and ".." not in a.path.split("/")):
            raise HostError(
                f"box: {sources.bundle_dir / 'manifest.json'}: artifact {a.name!r} has "
                f"the path {a.path!r}, not a plain relative path\n"
                "  fix: rebuild the bundle with `provision bundle build`"
            )
    return Bake(
        bundle_dir=sources.bundle_dir,
        binaries=tuple(
            sorted((a.path, dest[a.name], a.sha256) for a in artifacts if a.name in dest)
        ),
        images=tuple(
            sorted((a.path, a.sha256) for a in artifacts if a.kind == "image" or a.name in addon)
        ),
    )


DISK_GB = 16
HOST_TOOLS = ("debootstrap", "qemu-img", "extlinux", "mkfs.ext4", "sfdisk", "losetup", "vagrant")


def recipe(bake: Bake | None = None) -> dict:
    return {
        "suite": SUITE,
        "variant": "minbase",
        "packages": box_packages(),
        "disabled": DISABLED_UNITS,
        "disk_gb": DISK_GB,
        "script": hashlib.sha256(SCRIPT.read_bytes()).hexdigest(),
        "bake": bake.key() if bake else None,
        "format": 2,
    }


def box_hash(bake: Bake | None = None) -> str:
    return hashlib.sha256(json.dumps(recipe(bake), sort_keys=True).encode()).hexdigest()[:12]


def box_name(bake: Bake | None = None) -> str:
    return f"{OFFLINE_BOX}-{box_hash(bake)}"


def box_present(name: str) -> bool:
    if shutil.which("vagrant") is None:
        return False
    out = _vagrant("box", "list", "--machine-readable")
    return any(line.split(",")[2:4] == ["box-name", name] for line in out.stdout.splitlines())


def ensure_box(
    cache_dir: Path, say: Callable[[str], None] = print, bake: Bake | None = None
) -> tuple[str, bool]:
    """(box name, True when built now). Builds and adds only when the recipe changed."""
    name = box_name(bake)
    if box_present(name):
        say(f"box {name} is present")
        return name, False
    work = cache_dir / "box"
    work.mkdir(parents=True, exist_ok=True)
    digest = box_hash(bake)
    box_file = work / f"bookworm-{digest}.box"
    started = time.monotonic()
    if not box_file.exists():
        missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
        if missing:
            raise HostError(
                f"{', '.join(missing)} needed to build the offline box\n"
                "  fix: run scripts/host-setup-libvirt"
            )
        source = mirror_for(SUITE)
        baked = (
            f" + the bundle's {len(bake.binaries)} binaries and {len(bake.images)} images"
            if bake
            else ""
        )
        say(f"building box {name}: debootstrap {SUITE} from the host's apt mirror{baked}")
        env = {
            **os.environ,
            "BOX_DISABLED": " ".join(DISABLED_UNITS),
            "BOX_BUNDLE": str(bake.bundle_dir) if bake else "",
            "BOX_BINARIES": " ".join(f"{src}:{dst}" for src, dst, _ in bake.binaries)
            if bake
            else "",
            "BOX_IMAGES": " ".join(path for path, _ in bake.images) if bake else "",
        }
        log = work / "build.log"
        with log.open("w") as out:
            rc = subprocess.run(
                [
                    "bash",
                    str(SCRIPT),
                    str(work / f"build-{digest}"),
                    str(box_file),
                    source.uri,
                    ",".join(source.components),
                    SUITE,
                    ",".join(box_packages()),
                    str(DISK_GB),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                env=env,
            ).returncode
        if rc != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            box_file.unlink(missing_ok=True)
            raise HostError(f"box build failed with exit {rc} (full log: {log})\n{tail}")
    added = _vagrant("box", "add", "--force", "--name", name, str(box_file))
    if added.returncode != 0:
        raise HostError(f"vagrant box add {name} failed:\n{(added.stdout + added.stderr)[-800:]}")
    say(f"box {name} built and added in {time.monotonic() - started:.0f} s")
    return name, True


def _vagrant(*args: str) -> subprocess.CompletedProcess:
    """`vagrant box ...` outside any project: a Vagrantfile in the current
    directory (or VAGRANT_CWD) would be loaded, and the lab's needs machines.json."""
    env = {k: v for k, v in os.environ.items() if k not in ("VAGRANT_CWD", "PROVISION_MACHINES")}
    env["VAGRANT_CHECKPOINT_DISABLE"] = "1"
    return subprocess.run(
        ["vagrant", *args], capture_output=True, text=True, check=False, env=env, cwd="/"
    )
