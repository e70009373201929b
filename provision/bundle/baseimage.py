"""The Debian base layer of the kube-proxy image: bookworm minbase with the tools
kube-proxy runs (iptables, conntrack, ipset, kmod).

Built by debootstrap from the host's own apt mirror, like the node image, and
cached as a finished layer under <cache>/bundle-base/<recipe hash>/ until the
recipe changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from provision.bundle.images import Layer, add_tree, write_layer
from provision.bundle.manifest import BundleError
from provision.machines.apt_mirror import mirror_for

SUITE = "bookworm"
PACKAGES = ("iptables", "conntrack", "ipset", "kmod")
# Left out of the layer: package indexes, caches, logs and the mirror's address.
REMOVE = (
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf/templates.dat-old",
    "var/log",
    "etc/apt/sources.list",
    "etc/machine-id",
)


def recipe() -> dict:
    return {"suite": SUITE, "variant": "minbase", "packages": PACKAGES, "remove": REMOVE, "v": 1}


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]


def base_layer(cache_dir: Path, log: Path, say: Callable[[str], None]) -> tuple[Layer, bool]:
    """(the base layer, True when it was built now)."""
    home = cache_dir / "bundle-base"
    done = home / recipe_hash()
    meta = done / "layer.json"
    if meta.is_file() and (done / "layer.tar.gz").is_file():
        data = json.loads(meta.read_text())
        path = done / "layer.tar.gz"
        return Layer(path, data["digest"], data["diff_id"], path.stat().st_size), False
    if shutil.which("debootstrap") is None:
        raise BundleError(
            "debootstrap is needed to build the kube-proxy base image\n"
            "  fix: run scripts/host-setup (or apt-get install debootstrap)"
        )
    source = mirror_for(SUITE)
    rootfs = home / f"rootfs-{recipe_hash()}"
    debs = home / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    say(f"debootstrap {SUITE} minbase + {', '.join(PACKAGES)} from the host's apt mirror")
    try:
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--cache-dir={debs}",
            f"--components={','.join(source.components)}",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(rootfs),
            source.uri,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        text = (out.stdout + out.stderr).replace(source.uri, "<apt-mirror>")
        log.write_text(text)
        if out.returncode != 0:
            tail = "\n    ".join(text.splitlines()[-12:])
            raise BundleError(
                f"debootstrap of the kube-proxy base failed with exit {out.returncode}:\n"
                f"    {tail}\n  full log: {log}\n"
                "  fix: check that `apt-get update` works on this host"
            )
        for rel in REMOVE:
            path = rootfs / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                path.mkdir()
            else:
                path.unlink(missing_ok=True)
        partial = home / f"layer-{recipe_hash()}.partial"
        layer = write_layer(partial, lambda tar: add_tree(tar, rootfs))
        done.mkdir(parents=True, exist_ok=True)
        final = done / "layer.tar.gz"
        partial.rename(final)
        meta.write_text(json.dumps({"digest": layer.digest, "diff_id": layer.diff_id}) + "\n")
        return Layer(final, layer.digest, layer.diff_id, layer.size), True
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
