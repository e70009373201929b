"""Debian base layers of the bundle's images: bookworm minbase with the tools an
image runs (kube-proxy: iptables, conntrack, ipset, kmod; calico-node: runit and
the dataplane tools).

Built by debootstrap from the host's own apt mirror, like the node image, and
cached as a finished layer under <cache>/bundle-base/<recipe hash>/ until the
recipe changes. A recipe may keep paths out of the layer for another image
(<cache>/bundle-base/<recipe hash>/kept/<path>), e.g. Debian's CNI plugins.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.apt_mirror import mirror_for
from provision.bundle.images import Layer, add_tree, write_layer
from provision.errors import BundleError

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


@dataclass(frozen=True)
class BaseRecipe:
    """What goes into one base layer; everything but `name` is part of its hash."""

    name: str  # the image it is for, in messages
    packages: tuple[str, ...]
    remove: tuple[str, ...] = REMOVE
    keep: tuple[str, ...] = ()  # copied out of the rootfs (to kept/) before `remove`

    def as_dict(self) -> dict:
        data = {
            "suite": SUITE,
            "variant": "minbase",
            "packages": self.packages,
            "remove": self.remove,
            "v": 1,
        }
        if self.keep:
            data["keep"] = self.keep
        return data

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:12]


KUBE_PROXY = BaseRecipe("kube-proxy", PACKAGES)


def kept_dir(cache_dir: Path, base: BaseRecipe = KUBE_PROXY) -> Path:
    """Where the paths a recipe keeps out of its layer are (kept/<path>)."""
    return cache_dir / "bundle-base" / base.hash() / "kept"


def base_layer(
    cache_dir: Path, log: Path, say: Callable[[str], None], base: BaseRecipe = KUBE_PROXY
) -> tuple[Layer, bool]:
    """(the base layer, True when it was built now)."""
    home = cache_dir / "bundle-base"
    done = home / base.hash()
    meta = done / "layer.json"
    kept = kept_dir(cache_dir, base)
    if (
        meta.is_file()
        and (done / "layer.tar.gz").is_file()
        and all((kept / rel).exists() for rel in base.keep)
    ):
        data = json.loads(meta.read_text())
        path = done / "layer.tar.gz"
        return Layer(path, data["digest"], data["diff_id"], path.stat().st_size), False
    if shutil.which("debootstrap") is None:
        raise BundleError(
            f"debootstrap is needed to build the {base.name} base image\n"
            "  fix: run scripts/host-setup (or apt-get install debootstrap)"
        )
    source = mirror_for(SUITE)
    rootfs = home / f"rootfs-{base.hash()}"
    debs = home / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    say(f"debootstrap {SUITE} minbase + {', '.join(base.packages)} from the host's apt mirror")
    try:
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--cache-dir={debs}",
            f"--components={','.join(source.components)}",
            f"--include={','.join(base.packages)}",
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
                f"debootstrap of the {base.name} base failed with exit {out.returncode}:\n"
                f"    {tail}\n  full log: {log}\n"
                "  fix: check that `apt-get update` works on this host"
            )
        shutil.rmtree(kept, ignore_errors=True)
        for rel in base.keep:
            if not (rootfs / rel).exists():
                raise BundleError(
                    f"{base.name} base: /{rel} is missing after debootstrap\n"
                    "  fix: check the recipe in provision/bundle/baseimage.py"
                )
            (kept / rel).parent.mkdir(parents=True, exist_ok=True)
            if (rootfs / rel).is_dir():
                shutil.copytree(rootfs / rel, kept / rel, symlinks=True)
            else:
                shutil.copy2(rootfs / rel, kept / rel)
        for rel in base.remove:
            path = rootfs / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                path.mkdir()
            else:
                path.unlink(missing_ok=True)
        partial = home / f"layer-{base.hash()}.partial"
        layer = write_layer(partial, lambda tar: add_tree(tar, rootfs))
        done.mkdir(parents=True, exist_ok=True)
        final = done / "layer.tar.gz"
        partial.rename(final)
        meta.write_text(json.dumps({"digest": layer.digest, "diff_id": layer.diff_id}) + "\n")
        return Layer(final, layer.digest, layer.diff_id, layer.size), True
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
