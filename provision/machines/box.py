"""An offline Vagrant box for libvirt: Debian bookworm built from Debian packages.

`machines.box: provision/bookworm` asks for it (hosts with internet keep a box
from the catalogue, e.g. debian/bookworm64). debootstrap from the host's own apt
mirror adds a kernel, sshd, sudo, python3 and ifupdown (DHCP on eth0; Vagrant
configures eth1); box.sh makes a disk with extlinux, converts it to qcow2 and
packs metadata.json, a box Vagrantfile and the disk into a .box, which
`vagrant box add` registers as provision/bookworm-<hash>. The hash covers this
recipe and box.sh, so a box is reused until either changes; the .box file is
kept under the cache directory like the docker node image.

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
SCRIPT = Path(__file__).with_name("box.sh")
DISK_GB = 16
HOST_TOOLS = ("debootstrap", "qemu-img", "extlinux", "mkfs.ext4", "sfdisk", "losetup", "vagrant")


def recipe() -> dict:
    return {
        "suite": SUITE,
        "variant": "minbase",
        "packages": PACKAGES,
        "disk_gb": DISK_GB,
        "script": hashlib.sha256(SCRIPT.read_bytes()).hexdigest(),
        "format": 1,
    }


def box_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]


def box_name() -> str:
    return f"{OFFLINE_BOX}-{box_hash()}"


def box_present(name: str) -> bool:
    if shutil.which("vagrant") is None:
        return False
    out = _vagrant("box", "list", "--machine-readable")
    return any(line.split(",")[2:4] == ["box-name", name] for line in out.stdout.splitlines())


def ensure_box(cache_dir: Path, say: Callable[[str], None] = print) -> tuple[str, bool]:
    """(box name, True when built now). Builds and adds only when the recipe changed."""
    name = box_name()
    if box_present(name):
        say(f"box {name} is present")
        return name, False
    work = cache_dir / "box"
    work.mkdir(parents=True, exist_ok=True)
    box_file = work / f"bookworm-{box_hash()}.box"
    started = time.monotonic()
    if not box_file.exists():
        missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
        if missing:
            raise HostError(
                f"{', '.join(missing)} needed to build the offline box\n"
                "  fix: run scripts/host-setup-libvirt"
            )
        source = mirror_for(SUITE)
        say(f"building box {name}: debootstrap {SUITE} from the host's apt mirror (~3 min)")
        log = work / "build.log"
        with log.open("w") as out:
            rc = subprocess.run(
                [
                    "bash",
                    str(SCRIPT),
                    str(work / f"build-{box_hash()}"),
                    str(box_file),
                    source.uri,
                    ",".join(source.components),
                    SUITE,
                    ",".join(PACKAGES),
                    str(DISK_GB),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
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
