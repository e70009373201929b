"""manifest.json of a bundle: every artifact with its version and sha256.

{"format": 1, "kubernetes": "1.35.4",
 "artifacts": [{"name": "kubeadm", "kind": "binary", "path": "bin/kubeadm",
                "version": "1.35.4", "sha256": "..."}, ...],
 "releases": {"1.35.4": ["bin/kubeadm", ...], "1.34.4": ["releases/1.34.4/bin/kubeadm", ...]}}

A bundle may hold more than one Kubernetes release (`provision bundle build --also`,
for an upgrade): `releases` then names, for each, the paths of its own artifacts
(its binaries and the images kubeadm lists for it). The artifacts no release names
(Calico, cri-dockerd, the add-on images) belong to every release. A bundle without
`releases` holds the one release `kubernetes` names.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from provision.config.kinds import unsafe_dir
from provision.errors import BundleError
from provision.files import read_json, refuse

FORMAT = 1
NAME = "manifest.json"
# A manifest lists a few hundred artifacts: kilobytes; more is not one of ours.
MAX_MANIFEST = 16 << 20
WHAT, FIX = "bundle manifest", "rebuild the bundle (`provision bundle build`)"


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str  # binary | image | manifest
    path: str  # relative to the bundle directory
    version: str
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(
    directory: Path,
    kubernetes: str,
    artifacts: list[Artifact],
    releases: dict[str, list[str]] | None = None,
) -> Path:
    """The manifest of a bundle; `releases` (version -> paths of its own artifacts)
    when it holds more than one Kubernetes release."""
    path = directory / NAME
    data: dict[str, object] = {
        "format": FORMAT,
        "kubernetes": kubernetes,
        "artifacts": [asdict(a) for a in sorted(artifacts, key=lambda a: a.path)],
    }
    if releases:
        data["releases"] = {v: sorted(paths) for v, paths in sorted(releases.items())}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


_FIELDS = tuple(f.name for f in fields(Artifact))


class _DirLock:
    """An open directory, for flock (closing it releases the lock)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def __enter__(self) -> _DirLock:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


# What a bundle directory holds: a directory with anything else in it is not ours.
BUNDLE_ENTRIES = frozenset({NAME, "bin", "images", "manifests", "releases"})


def check_replaceable(bundle: Path) -> None:
    """Refuse to replace `bundle` unless it is missing, an empty directory, or a bundle
    of ours (our manifest.json, nothing but bundle entries): build and fetch move the
    old directory aside and delete it, so anything else would be lost."""
    fix = "  fix: set artifacts.bundle_dir to a new or empty directory, or move this one away"
    reason = unsafe_dir(os.path.abspath(bundle))
    if reason:
        raise BundleError(f"will not replace {bundle}: {reason}\n{fix}")
    try:
        info = bundle.lstat()
    except FileNotFoundError:
        return
    except OSError as e:
        raise BundleError(f"cannot inspect {bundle}: {e.strerror}\n{fix}") from None
    if stat.S_ISLNK(info.st_mode):
        raise BundleError(
            f"will not replace {bundle}: it is a symlink (to {os.readlink(bundle)})\n"
            "  fix: set artifacts.bundle_dir to the directory it points to"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise BundleError(f"will not replace {bundle}: it is not a directory\n{fix}")
    try:
        entries = {e.name for e in os.scandir(bundle)}
    except OSError as e:
        raise BundleError(f"cannot list {bundle}: {e.strerror}\n{fix}") from None
    if not entries:
        return
    if NAME not in entries or not _ours(bundle / NAME):
        raise BundleError(
            f"will not replace {bundle}: it is not empty and holds no bundle manifest "
            f"of provision ({NAME})\n{fix}"
        )
    foreign = sorted(entries - BUNDLE_ENTRIES)
    if foreign:
        raise BundleError(
            f"will not replace {bundle}: besides the bundle it holds "
            f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}\n"
            "  fix: move those files out of the bundle directory"
        )


def _ours(manifest: Path) -> bool:
    """A manifest of provision's; anything unreadable (a link, a FIFO, too big, not
    JSON, another shape) is not ours."""
    try:
        data = _read(manifest)
        if data is None or data.get("format") != FORMAT:
            return False
        _artifacts(manifest, data)
    except BundleError:
        return False
    return True


@contextmanager
def staging(bundle: Path, kind: str, say: Callable[[str], None]) -> Iterator[Path]:
    """A staging directory beside the bundle for one build or fetch (`kind`), one at a
    time (a lock on the directory that holds the bundle). Removes what an earlier run
    that was killed left behind, and its own directory on the way out. Refuses at once
    when the bundle directory is not one it may replace (check_replaceable)."""
    check_replaceable(bundle)
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with _DirLock(bundle.parent) as lock:
        try:
            fcntl.flock(lock.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleError(
                f"another bundle build or fetch is writing {bundle}\n  fix: wait for it to finish"
            ) from None
        for stale in _stale_stagings(bundle):
            say(f"  removing {stale} (left by an interrupted run)")
            shutil.rmtree(stale, ignore_errors=True)
        path = Path(tempfile.mkdtemp(prefix=f".{bundle.name}-{kind}-", dir=bundle.parent))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def _stale_stagings(bundle: Path) -> list[Path]:
    """Staging directories an interrupted build or fetch left: named as staging names
    them, real directories (not links), holding only what staging puts there.
    Anything else beside the bundle is left alone."""
    shape = re.compile(rf"^\.{re.escape(bundle.name)}-(build|fetch)-[A-Za-z0-9_]+$")
    found = []
    for entry in bundle.parent.iterdir():
        if not shape.fullmatch(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        if {e.name for e in entry.iterdir()} <= {"bundle", "work", "previous"}:
            found.append(entry)
    return found


def swap_in(out: Path, bundle: Path, staging: Path) -> None:
    """Put a finished bundle `out` in place of `bundle`; the old one (if any) is moved
    into `staging` (removed by the caller) and put back if the swap fails."""
    previous = staging / "previous"
    check_replaceable(bundle)  # again: it may have changed during a long build
    if bundle.exists():
        bundle.rename(previous)
    try:
        out.rename(bundle)
    except OSError:
        if previous.exists():
            previous.rename(bundle)
        raise


def read_manifest(directory: Path, kubernetes: str) -> list[Artifact]:
    """The artifacts of Kubernetes `kubernetes` in the bundle (its own and those every
    release shares); refuses a bundle that does not hold that release."""
    path = directory / NAME
    data = _read(path)
    if data is None:
        raise BundleError(
            f"no bundle at {directory} (missing {NAME})\n"
            "  fix: run `provision bundle build`, or set artifacts.source: online"
        )
    held = _held(path, data)
    if data.get("format") != FORMAT or kubernetes not in held:
        raise BundleError(
            f"{path}: bundle is for Kubernetes {', '.join(held)[:80] or '?'} "
            f"(format {str(data.get('format'))[:10]}), the config pins {kubernetes}\n"
            "  fix: run `provision bundle build` for the pinned versions"
        )
    artifacts = _artifacts(path, data)
    if not held[kubernetes]:  # a bundle of one release
        return artifacts
    others = {p for v, paths in held.items() if v != kubernetes for p in paths}
    return [a for a in artifacts if a.path in held[kubernetes] or a.path not in others]


def bundle_releases(directory: Path) -> list[str]:
    """The Kubernetes releases the bundle at `directory` holds ([] without a bundle)."""
    path = directory / NAME
    data = _read(path)
    if data is None or data.get("format") != FORMAT:
        return []
    return list(_held(path, data))


def _held(path: Path, data: dict) -> dict[str, set[str]]:
    """release -> the paths of its own artifacts (empty: a bundle of one release)."""
    main = data.get("kubernetes")
    releases = data.get("releases")
    if releases is None:
        return {main: set()} if isinstance(main, str) else {}
    if not (
        isinstance(releases, dict)
        and main in releases
        and all(
            isinstance(v, str) and isinstance(p, list) and all(isinstance(x, str) for x in p)
            for v, p in releases.items()
        )
    ):
        raise refuse(
            path,
            WHAT,
            "its releases are not a map of version to paths, with its own",
            FIX,
            BundleError,
        )
    return {v: set(p) for v, p in releases.items()}


def _read(path: Path) -> dict | None:
    """The manifest's JSON object, or None when there is none; a FIFO, a link, a huge
    file or one of another shape is a BundleError."""
    return read_json(path, WHAT, fix=FIX, max_bytes=MAX_MANIFEST, error=BundleError)


def _artifacts(path: Path, data: dict) -> list[Artifact]:
    """The artifacts as write_manifest writes them; anything else is a BundleError."""
    entries = data.get("artifacts")
    if not isinstance(entries, list) or not all(map(_is_artifact, entries)):
        problem = f"its artifacts are not a list of {', '.join(_FIELDS)} (strings)"
        raise refuse(path, WHAT, problem, FIX, BundleError)
    return [Artifact(**a) for a in entries]


def _is_artifact(entry: object) -> bool:
    """One artifact: exactly Artifact's fields, each a string (what a path or a name
    may be is checked where it is used, e.g. by the image seed)."""
    return (
        isinstance(entry, dict)
        and sorted(entry) == sorted(_FIELDS)
        and all(isinstance(v, str) for v in entry.values())
    )


def _inside(root: Path, relative: str) -> bool:
    """A relative path with no `..` that, links resolved, stays under root: bundle
    check reads only the bundle."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts or not relative.strip():
        return False
    return (root / path).resolve().is_relative_to(root)


def verify(directory: Path, artifacts: list[Artifact]) -> None:
    """Every artifact present with the checksum the manifest records."""
    bad = []
    root = directory.resolve()
    for a in artifacts:
        file = directory / a.path
        if not _inside(root, a.path):
            bad.append(f"{a.path}: not a path inside the bundle (absolute, `..` or a link out)")
        elif not file.is_file():
            bad.append(f"{a.path}: missing")
        elif sha256_of(file) != a.sha256:
            bad.append(f"{a.path}: sha256 differs from the manifest")
    if bad:
        raise BundleError(
            f"bundle {directory} is damaged:\n  "
            + "\n  ".join(bad)
            + "\n  fix: run `provision bundle build` again"
        )
