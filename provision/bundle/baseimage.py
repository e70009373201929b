"""Debian base layers of the bundle's images: bookworm minbase with the tools an
image runs (kube-proxy: iptables, conntrack, ipset, kmod; calico-node: runit and
the dataplane tools).

Built by debootstrap from the host's own apt mirror, like the node image, and
cached as a finished layer under <cache>/bundle-base/<recipe hash>/ until the
recipe changes. A recipe may keep paths out of the layer for another image
(<cache>/bundle-base/<recipe hash>/kept/<path>), e.g. Debian's CNI plugins.

BaseLayers starts every layer a build needs in the background (background.py) at
its start, beside the Go builds: they need no Go output.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.apt_mirror import mirror_for
from provision.bundle.background import Background, Job, run_stoppable
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
    _remove_rootfs(rootfs)
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
        out = run_stoppable(cmd, capture_output=True, text=True)
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
        _remove_rootfs(rootfs)


def mounts_under(path: Path, mountinfo: str) -> list[str]:
    """Mount points below `path` in a /proc/<pid>/mountinfo text (octal escapes decoded)."""
    prefix = str(path) + "/"
    points = [line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4]
    decoded = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), p) for p in points]
    return [p for p in decoded if p.startswith(prefix)]


def _remove_rootfs(rootfs: Path) -> None:
    """Remove a debootstrap root. Debootstrap unmounts its /proc, /sys and /dev binds
    when it exits, but one that was killed leaves them: they are unmounted first
    (deepest first), and the tree is never removed through one into the host's."""
    for point in sorted(_mounted(rootfs), key=len, reverse=True):
        # not stoppable: this is the clean-up of a build that is being stopped
        subprocess.run(["umount", point], capture_output=True, check=False)
    mounted = _mounted(rootfs)
    if mounted:
        raise BundleError(
            f"{rootfs} still has {', '.join(mounted)} mounted (left by a debootstrap that "
            f"was killed)\n  fix: umount them (umount -R {rootfs}), then run the build again"
        )
    shutil.rmtree(rootfs, ignore_errors=True)


def _mounted(rootfs: Path) -> list[str]:
    try:
        return mounts_under(rootfs.resolve(), Path("/proc/self/mountinfo").read_text())
    except OSError:
        return []


class BaseLayers:
    """The base layers of one build, started in the background and handed out when the
    images are put together."""

    def __init__(self, background: Background, cache_dir: Path, log_dir: Path):
        self.background = background
        self.cache_dir = cache_dir
        self.log_dir = log_dir
        self._jobs: dict[BaseRecipe, Job[Layer]] = {}

    def start(self, *recipes: BaseRecipe) -> None:
        """Submit each recipe not yet submitted (in this order, after those before)."""
        for recipe in recipes:
            if recipe not in self._jobs:
                self._jobs[recipe] = self._submit(recipe)

    def layer(self, recipe: BaseRecipe) -> Layer:
        """The finished layer of a started recipe (waits for it); raises the step's error."""
        return self.background.result(self._jobs[recipe])

    def _submit(self, recipe: BaseRecipe) -> Job[Layer]:
        what = f"{recipe.name} base layer (Debian)"
        return self.background.submit(what, lambda: self._make(recipe))

    def _make(self, recipe: BaseRecipe) -> Layer:
        log = self.log_dir / f"debootstrap-{recipe.name}.log"
        layer, fresh = base_layer(self.cache_dir, log, self._say, recipe)
        self._say(
            f"{recipe.name} base layer {layer.digest[:19]} ({'built' if fresh else 'cached'})"
        )
        return layer

    def _say(self, line: str) -> None:
        self.background.say(f"  [background] {line}")
