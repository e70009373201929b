#!/usr/bin/env bash
# Builds the offline libvirt box (see box.py, which runs this with its recipe):
#   box.sh WORK BOX_FILE MIRROR COMPONENTS SUITE PACKAGES DISK_GB
# debootstrap into WORK/rootfs, an MBR disk with one ext4 partition and
# extlinux, qcow2, then BOX_FILE = tar of box.img, metadata.json, Vagrantfile.
# From the environment: BOX_DISABLED, units disabled in the image; BOX_BUNDLE, a
# bundle directory, with BOX_BINARIES ("path-in-bundle:path-on-node" words) and
# BOX_IMAGES (image tars in the bundle) baked in: the binaries copied, the images
# imported into the node's containerd store by the node's own containerd, run in
# the rootfs (a chroot with its own proc, a tmpfs /dev and /run, the bundle bound
# read-only), then stopped and every mount undone before anything is removed.
# Needs root (debootstrap, chroot, mounts).
set -euo pipefail
[ -z "${BOX_TRACE:-}" ] || set -x
work=$1 box_file=$2 mirror=$3 components=$4 suite=$5 packages=$6 disk_gb=$7

rootfs=$work/rootfs
mnt=$work/mnt
debs=$(dirname "$work")/debs
loop=""
containerd_pid=""
# Mounts under the rootfs, undone in reverse order before anything is removed.
chroot_mounts=(proc dev run mnt/bundle)
unmount_chroot() {
  [ -z "$containerd_pid" ] || { kill -TERM "$containerd_pid" 2>/dev/null; wait "$containerd_pid" || true; }
  containerd_pid=""
  local i m
  for (( i=${#chroot_mounts[@]}-1; i>=0; i-- )); do
    m=$rootfs/${chroot_mounts[$i]}
    if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
  done
}
cleanup() {
  unmount_chroot
  mountpoint -q "$mnt" && umount "$mnt"
  [ -n "$loop" ] && losetup -d "$loop"
  # never remove through a mount left behind (the bundle, a /dev)
  if grep -q " $(realpath -m "$work")/" /proc/mounts; then
    echo "box.sh: a mount is left under $work: not removing it" >&2
    return
  fi
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$rootfs" "$mnt" "$debs"

echo "== debootstrap $suite"
debootstrap --variant=minbase --cache-dir="$debs" --components="$components" \
  --include="$packages" "$suite" "$rootfs" "$mirror"

echo "== configure"
# apt in the VM uses the host's own sources (same mirror, same keys).
if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
  cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/"
  rm -f "$rootfs/etc/apt/sources.list"
fi
# The kernel names interfaces eth0, eth1 (net.ifnames=0 below): eth0 is
# Vagrant's NAT/management interface (DHCP); Vagrant writes eth1's static
# address into this file.
cat >"$rootfs/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
EOF
# Vagrant sets the hostname, then restarts each interface with `systemctl
# start ifup@IF` (its Debian guest on systemd without networkd), eth1 too,
# before it has written eth1's address: Debian's unit then fails (eth1 is not
# allow-hotplug, so not up) and leaves systemd degraded. An interface that is
# not allow-hotplug is networking.service's (and Vagrant's own ifup), not this
# unit's: for it the unit does nothing and succeeds.
install -d "$rootfs/etc/systemd/system/ifup@.service.d"
cat >"$rootfs/etc/systemd/system/ifup@.service.d/hotplug-only.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/bin/sh -ec 'if ifquery --list --allow=hotplug | grep -qx "%I"; then ifup --allow=hotplug "%I"; ifquery --state "%I"; fi'
EOF
# The vagrant user: no password, passwordless sudo, Vagrant's well-known
# insecure key, which Vagrant replaces with a per-machine key at first boot
# (config.ssh.insert_key = true in the lab's Vagrantfile).
chroot "$rootfs" useradd --create-home --shell /bin/bash vagrant
install -d -m 0700 -o 1000 -g 1000 "$rootfs/home/vagrant/.ssh"
# Debian's vagrant package, or HashiCorp's under /opt/vagrant.
pub=$( { find /usr/share/rubygems-integration/all/gems /opt/vagrant \
  -path '*/vagrant-*/keys/vagrant.pub' 2>/dev/null || true; } | head -1)
[ -n "$pub" ] || { echo "box.sh: Vagrant's keys/vagrant.pub not found" >&2; exit 1; }
install -m 0600 -o 1000 -g 1000 "$pub" "$rootfs/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$rootfs/etc/sudoers.d/vagrant"
chmod 0440 "$rootfs/etc/sudoers.d/vagrant"
cat >"$rootfs/etc/ssh/sshd_config.d/provision.conf" <<'EOF'
PasswordAuthentication no
PermitRootLogin no
UseDNS no
EOF
# Host keys are made per VM at first boot, never shipped in the image.
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/hostkeys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
chroot "$rootfs" systemctl enable ssh.service
# One machine-id per VM (systemd makes it at first boot).
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
echo box >"$rootfs/etc/hostname"
echo "LANG=C.UTF-8" >"$rootfs/etc/default/locale"
# Package lists for the VM's own sources: a fresh box does not spend its
# first minutes (under emulation) in `apt-get update`; apt refreshes them
# when they age (prepare's cache_valid_time).
chroot "$rootfs" apt-get update -qq
chroot "$rootfs" apt-get clean
for unit in ${BOX_DISABLED:-}; do
  chroot "$rootfs" systemctl disable "$unit" 2>/dev/null || true
done

if [ -n "${BOX_BUNDLE:-}" ]; then
  echo "== bake the bundle's binaries and images"
  for pair in ${BOX_BINARIES:-}; do
    src=${pair%%:*} dst=${pair#*:}
    install -D -m 0755 "$BOX_BUNDLE/$src" "$rootfs$dst"
  done
  mkdir -p "$rootfs/mnt/bundle"
  mount -t proc proc "$rootfs/proc"
  mount -t tmpfs -o mode=0755 tmpfs "$rootfs/dev"
  for dev in "null c 1 3" "zero c 1 5" "random c 1 8" "urandom c 1 9"; do
    set -- $dev
    mknod -m 0666 "$rootfs/dev/$1" "$2" "$3" "$4"
  done
  mount -t tmpfs -o mode=0755 tmpfs "$rootfs/run"
  mount --bind "$BOX_BUNDLE" "$rootfs/mnt/bundle"
  mount -o remount,bind,ro "$rootfs/mnt/bundle"
  printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' \
    >"$rootfs/run/box-containerd.toml"
  sock=/run/box-containerd.sock
  chroot "$rootfs" containerd --config /run/box-containerd.toml --root /var/lib/containerd \
    --state /run/box-containerd --address "$sock" >"$work/containerd.log" 2>&1 &
  containerd_pid=$!
  i=0
  until chroot "$rootfs" ctr --address "$sock" version >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then cat "$work/containerd.log" >&2; exit 1; fi
    sleep 0.1
  done
  for tar in ${BOX_IMAGES:-}; do
    echo "import $tar"
    chroot "$rootfs" ctr --address "$sock" -n k8s.io images import --no-unpack=false \
      "/mnt/bundle/$tar" >/dev/null
  done
  chroot "$rootfs" ctr --address "$sock" -n k8s.io images ls -q
  unmount_chroot
fi

echo "== disk"
raw=$work/disk.raw
part=$work/root.ext4
uuid=$(cat /proc/sys/kernel/random/uuid)
kernel=$(cd "$rootfs/boot" && ls vmlinuz-* | sort -V | tail -1)
initrd=initrd.img-${kernel#vmlinuz-}
[ -f "$rootfs/boot/$initrd" ] || { echo "box.sh: no $initrd in the image" >&2; exit 1; }
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$rootfs/etc/fstab"
mkdir -p "$rootfs/boot/extlinux"
cat >"$rootfs/boot/extlinux/extlinux.conf" <<EOF
DEFAULT linux
TIMEOUT 0
PROMPT 0
LABEL linux
  KERNEL /boot/$kernel
  APPEND initrd=/boot/$initrd root=UUID=$uuid ro net.ifnames=0 console=tty0 console=ttyS0,115200
EOF
# One partition from 1 MiB to the end; its filesystem is made from the tree
# (mkfs -d) in a file of its own, then copied into the disk after the MBR.
truncate -s "${disk_gb}G" "$raw"
echo 'start=2048, type=83, bootable' | sfdisk --quiet "$raw"
truncate -s "$(( disk_gb * 1024 - 1 ))M" "$part"
# extlinux boots ext4 without the 64bit feature.
mkfs.ext4 -q -F -L root -U "$uuid" -O ^64bit,^metadata_csum_seed -d "$rootfs" "$part"
loop=$(losetup --find --show "$part")
mount "$loop" "$mnt"
extlinux --install "$mnt/boot/extlinux"
umount "$mnt"
losetup -d "$loop"
loop=""
dd if="$part" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
mbr=$( { find /usr/lib/syslinux /usr/lib/SYSLINUX /usr/share/syslinux -name mbr.bin \
  2>/dev/null || true; } | head -1)
[ -n "$mbr" ] || { echo "box.sh: syslinux mbr.bin not found" >&2; exit 1; }
dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none

echo "== box"
mkdir -p "$work/box"
# compressed: the box is uploaded into libvirt's pool once per box (a stream of
# about 9 MB/s measured here), and the image grew with the baked images
qemu-img convert -c -f raw -O qcow2 "$raw" "$work/box/box.img"
rm -f "$raw" "$part"
cat >"$work/box/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $disk_gb}
EOF
cat >"$work/box/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.ssh.username = "vagrant"
end
EOF
tar -C "$work/box" -cf "$box_file.part" metadata.json Vagrantfile box.img
mv "$box_file.part" "$box_file"
echo "== done: $box_file"
