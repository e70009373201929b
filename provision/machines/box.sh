#!/usr/bin/env bash
# Builds the offline libvirt box (see box.py, which runs this with its recipe):
#   box.sh WORK BOX_FILE MIRROR COMPONENTS SUITE PACKAGES DISK_GB
# debootstrap into WORK/rootfs, an MBR disk with one ext4 partition and
# extlinux, qcow2, then BOX_FILE = tar of box.img, metadata.json, Vagrantfile.
# Needs root (debootstrap, chroot, a loop mount).
set -euo pipefail
[ -z "${BOX_TRACE:-}" ] || set -x
work=$1 box_file=$2 mirror=$3 components=$4 suite=$5 packages=$6 disk_gb=$7

rootfs=$work/rootfs
mnt=$work/mnt
debs=$(dirname "$work")/debs
loop=""
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  [ -n "$loop" ] && losetup -d "$loop"
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
qemu-img convert -f raw -O qcow2 "$raw" "$work/box/box.img"
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
