"""The docker provider's node image: Debian bookworm with systemd and sshd.

Built by debootstrap from the host's own apt mirror and imported with
`docker import`. The image tag carries a hash of this recipe, so a built image
is reused until the recipe changes. The image holds no key: each lab mounts its
own authorized_keys at container creation.

Like a Vagrant box, a node is logged into as the non-root user `vagrant`, who has
passwordless sudo: every playbook and remote command runs through sudo, as on a
VM or an operator's host. root keeps key login (the same mounted key) so the
root path can be exercised too.
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
from provision.machines.docker import docker

SUITE = "bookworm"  # systemd 256+ (trixie) mishandles cgroup v1 in containers
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",  # Ansible's apt module
    "sudo",
    "iproute2",
    "iptables",
    "ca-certificates",
    "procps",
    "iputils-ping",
    "kmod",
    "less",
    "gnupg",
)
# The node roles' packages, baked in (as kind bakes its node image) so that `up`
# finds them installed: the base packages of node_common, Debian's Docker and
# containerd of runtime_docker, the CNI plugins and tools of kube_packages, the
# probe's busybox of cluster_probe, the NFS check's client of addons_nodes. Read
# from the roles' defaults, the one list.
# Their services are disabled in the image: the runtime role configures them,
# then starts them, as on a fresh VM.
BAKED_FROM = {
    "node_common": "node_common_packages",
    "runtime_docker": "runtime_docker_distribution_packages",
    "kube_packages": "kube_packages_distribution_packages",
    "cluster_probe": "cluster_probe_packages",
    "addons_nodes": "addons_nodes_nfs_client_packages",
}
BAKED_DISABLED = ("docker.service", "docker.socket", "containerd.service")


def baked_packages() -> tuple[str, ...]:
    from provision.project import role_default

    found = [p for role, key in BAKED_FROM.items() for p in role_default(role, key, "node image")]
    return tuple(sorted(set(found) - set(PACKAGES)))


# Units that have no job in a container node, or fail there.
MASKED_UNITS = (
    "getty.target",
    "console-getty.service",
    "getty@tty1.service",
    "serial-getty@.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-modules-load.service",
    "systemd-remount-fs.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "systemd-firstboot.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
)
# The login user, as in a Vagrant box: uid 1000, own group, home /home/vagrant.
LOGIN_USER = "vagrant"
LOGIN_UID = 1000
LOGIN_HOME = f"/home/{LOGIN_USER}"
SUDOERS = f"{LOGIN_USER} ALL=(ALL) NOPASSWD: ALL\n"
SSHD_CONFIG = "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
# Host keys are made per container at first boot, never baked into the image.
SSH_HOSTKEYS_DROPIN = (
    "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\n"
    "ExecStartPre=/usr/sbin/sshd -t\n"
)
# Docker mounts the cgroup hierarchies read-only in an unprivileged container.
# The node's systemd, Docker and kubelet must write them; with a private cgroup
# namespace a remount changes only the node's own view (kind does the same).
INIT = """#!/bin/sh
mount -o remount,rw /sys/fs/cgroup
for d in /sys/fs/cgroup/*; do
  if [ ! -L "$d" ] && mountpoint -q "$d"; then
    mount -o remount,bind,rw "$d" || echo "provision-init: $d stays read-only" >&2
  fi
done
# Pods with Bidirectional mount propagation (Calico's bpffs mount) need shared
# mounts, as on a real machine.
mount --make-rshared /
exec /sbin/init "$@"
"""
INIT_PATH = "/usr/local/sbin/provision-init"
REPOSITORY = "provision-node"


def recipe() -> dict:
    return {
        "suite": SUITE,
        "variant": "minbase",
        "packages": PACKAGES,
        "baked": baked_packages(),
        "baked_disabled": BAKED_DISABLED,
        "masked": MASKED_UNITS,
        "sshd": SSHD_CONFIG,
        "hostkeys": SSH_HOSTKEYS_DROPIN,
        "init": INIT,
        "user": [LOGIN_USER, LOGIN_UID, LOGIN_HOME],
        "sudoers": SUDOERS,
        "format": 4,
    }


def image_tag() -> str:
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()
    return f"{REPOSITORY}:{digest[:12]}"


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def ensure_image(cache_dir: Path, say: Callable[[str], None] = print) -> tuple[str, bool]:
    """(image tag, True when it was built now). Builds only when the recipe changed."""
    tag = image_tag()
    if image_exists(tag):
        say(f"node image {tag} is cached")
        return tag, False
    for tool in ("debootstrap", "tar"):
        if shutil.which(tool) is None:
            raise HostError(
                f"{tool} is needed to build the node image\n"
                "  fix: run scripts/host-setup (or apt-get install debootstrap)"
            )
    work = cache_dir / "node-image"
    rootfs = work / f"rootfs-{tag.split(':')[1]}"
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    source = mirror_for(SUITE)
    started = time.monotonic()
    say(f"building node image {tag}: debootstrap {SUITE} from the host's apt mirror")
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={debs}",
                f"--components={','.join(source.components)}",
                f"--include={','.join(PACKAGES + baked_packages())}",
                SUITE,
                str(rootfs),
                source.uri,
            ],
            "debootstrap",
            work / "debootstrap.log",
        )
        _configure(rootfs)
        say("importing the node image into Docker")
        tar = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
        )
        docker(
            "import",
            "--change",
            'CMD ["/sbin/init"]',
            "--change",
            "ENV container=docker",
            "-",
            tag,
            stdin=tar.stdout,
        )
        if tar.wait() != 0:
            raise HostError("tar of the node image root failed")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    say(f"node image {tag} built in {time.monotonic() - started:.0f} s")
    return tag, True


def _configure(rootfs: Path) -> None:
    etc = rootfs / "etc"
    # apt inside the node uses the host's own sources (same mirror, same keys)
    for src in Path("/etc/apt/sources.list.d").glob("*.sources"):
        shutil.copy(src, etc / "apt" / "sources.list.d" / src.name)
    if any((etc / "apt" / "sources.list.d").glob("*.sources")):
        (etc / "apt" / "sources.list").unlink(missing_ok=True)
    (etc / "ssh" / "sshd_config.d" / "provision.conf").write_text(SSHD_CONFIG)
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    dropin = etc / "systemd" / "system" / "ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "hostkeys.conf").write_text(SSH_HOSTKEYS_DROPIN)
    _run(["chroot", str(rootfs), "systemctl", "enable", "ssh.service"], "enable sshd")
    (rootfs / "root" / ".ssh").mkdir(mode=0o700, exist_ok=True)
    _add_login_user(rootfs)
    # an empty machine-id: systemd makes one per container at boot
    (etc / "machine-id").write_text("")
    dbus_id = rootfs / "var" / "lib" / "dbus" / "machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    for unit in BAKED_DISABLED:
        _run(["chroot", str(rootfs), "systemctl", "disable", unit], f"disable {unit}")
    for unit in MASKED_UNITS:
        link = etc / "systemd" / "system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    init = rootfs / INIT_PATH.lstrip("/")
    init.write_text(INIT)
    init.chmod(0o755)
    (etc / "hostname").write_text("node\n")
    (etc / "default" / "locale").write_text("LANG=C.UTF-8\n")
    _run(["chroot", str(rootfs), "apt-get", "clean"], "apt-get clean")
    for leftover in (rootfs / "var" / "lib" / "apt" / "lists").glob("*"):
        if leftover.is_file():
            leftover.unlink()
    # The package lists are left empty, and the directory's fresh mtime
    # would tell apt's cache_valid_time (Ansible reads that mtime) that they were
    # just updated: mark them as never updated, so the first role that installs a
    # package updates them. auxfiles is made now, as python3-apt would make it
    # at its first use (and so touch the directory).
    _run(
        [
            "chroot",
            str(rootfs),
            "install",
            "-d",
            "-o",
            "_apt",
            "-g",
            "root",
            "-m",
            "0755",
            "/var/lib/apt/lists/auxfiles",
        ],
        "make apt's auxfiles",
    )
    os.utime(rootfs / "var" / "lib" / "apt" / "lists", (0, 0))


def _add_login_user(rootfs: Path) -> None:
    """The `vagrant` user with passwordless sudo and a home sshd's StrictModes
    accepts: home 0755 and ~/.ssh 0700, both owned by the user (authorized_keys is
    mounted read-only into ~/.ssh when a node is created)."""
    _run(
        [
            "chroot",
            str(rootfs),
            "useradd",
            "--create-home",
            "--home-dir",
            LOGIN_HOME,
            "--shell",
            "/bin/bash",
            "--uid",
            str(LOGIN_UID),
            "--user-group",
            LOGIN_USER,
        ],
        "useradd",
    )
    # no password at all (locked): key login only, sudo without a password
    _run(["chroot", str(rootfs), "passwd", "--lock", LOGIN_USER], "passwd --lock")
    home = rootfs / LOGIN_HOME.lstrip("/")
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    for path, mode in ((home, 0o755), (ssh_dir, 0o700)):
        os.chown(path, LOGIN_UID, LOGIN_UID)
        path.chmod(mode)
    sudoers = rootfs / "etc" / "sudoers.d" / LOGIN_USER
    sudoers.write_text(SUDOERS)
    sudoers.chmod(0o440)
    _run(["chroot", str(rootfs), "visudo", "-c", "-f", f"/etc/sudoers.d/{LOGIN_USER}"], "visudo")


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if log is not None:
        log.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-15:])
        where = f" (full log: {log})" if log else ""
        raise HostError(f"node image: {what} failed with exit {out.returncode}{where}\n{tail}")
