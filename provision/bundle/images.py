"""Container image tarballs without a registry or a Docker daemon.

One tar per image that is both an OCI image layout (oci-layout, index.json,
blobs/sha256/...) and a docker-archive (manifest.json pointing at the same
blobs): `docker load -i` and `ctr -n k8s.io images import` both take it.
Output is deterministic: every mtime is 0, owners are numeric, entries sorted,
gzip without name or time; the same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# Left out of a root filesystem layer: the runtime mounts these.
TREE_SKIP = ("dev/", "proc/", "sys/", "run/", "tmp/")


@dataclass(frozen=True)
class Layer:
    """A gzipped layer blob on disk: digest of the blob, diff_id of the plain tar."""

    path: Path
    digest: str  # sha256:<hex> of the gzipped bytes
    diff_id: str  # sha256:<hex> of the uncompressed tar
    size: int


@dataclass(frozen=True)
class File:
    """A file for a layer: content from a path on disk or bytes, or a hard link."""

    dest: str  # absolute path in the image
    source: Path | bytes
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    link: str = ""  # when set: a hard link to this absolute path (a File of the same layer)


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=lambda: [DEFAULT_PATH])
    user: str | None = None
    architecture: str = "amd64"
    workdir: str | None = None


# --- layers ----------------------------------------------------------------------------


class _Digest(io.RawIOBase):
    """A write-only stream that hashes (and optionally forwards) what it is given."""

    def __init__(self, sink=None):
        self.sha = hashlib.sha256()
        self.size = 0
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        if self._sink is not None:
            self._sink.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def write_layer(out: Path, fill: Callable[[tarfile.TarFile], None]) -> Layer:
    """Write a gzipped layer to `out`; `fill` adds the entries to the (plain) tar."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw:
        blob = _Digest(raw)
        with gzip.GzipFile(filename="", fileobj=blob, mode="wb", mtime=0, compresslevel=6) as gz:
            plain = _Digest(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                fill(tar)
    return Layer(out, blob.hexdigest(), plain.hexdigest(), blob.size)


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def add_files(
    tar: tarfile.TarFile, files: Iterable[File], dirs: dict[str, int] | None = None
) -> None:
    """Files, their parent directories (0755) and extra directories {path: mode},
    root-owned unless a File says otherwise, sorted by path; hard links last."""
    files = sorted(files, key=lambda f: (bool(f.link), f.dest))
    modes = {p: 0o755 for f in files for p in _parents(f.dest.strip("/"))}
    modes.update({d.strip("/"): mode for d, mode in (dirs or {}).items()})
    for d in sorted(modes):
        tar.addfile(_info(d, tarfile.DIRTYPE, modes[d]))
    for f in files:
        name = f.dest.strip("/")
        if f.link:
            info = _info(name, tarfile.LNKTYPE, f.mode)
            info.linkname = f.link.strip("/")
            tar.addfile(_owned(info, f))
        elif isinstance(f.source, bytes):
            info = _info(name, tarfile.REGTYPE, f.mode, len(f.source))
            tar.addfile(_owned(info, f), io.BytesIO(f.source))
        else:
            with f.source.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                tar.addfile(_owned(_info(name, tarfile.REGTYPE, f.mode, size), f), fh)


def _owned(info: tarfile.TarInfo, f: File) -> tarfile.TarInfo:
    info.uid, info.gid = f.uid, f.gid
    return info


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def add_tree(tar: tarfile.TarFile, root: Path) -> None:
    """A whole root filesystem (owners, modes, links kept; mtimes 0), sorted by path.

    The contents of /dev, /proc, /sys, /run and /tmp are left out (the runtime
    provides them); the directories themselves stay.
    """
    paths: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            paths.append(name if rel == "." else f"{rel}/{name}")
    for rel in sorted(paths):
        if any(rel.startswith(skip) for skip in TREE_SKIP):
            continue
        info = tar.gettarinfo(str(root / rel), arcname=rel)
        if info.type not in (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE):
            continue  # device nodes, fifos, sockets have no place in an image
        info.mtime = 0
        info.uname = info.gname = ""
        if info.type == tarfile.REGTYPE:
            with (root / rel).open("rb") as fh:
                tar.addfile(info, fh)
        else:
            tar.addfile(info)


# --- image tarball ---------------------------------------------------------------------


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tag_of(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def config_blob(layers: list[Layer], config: ImageConfig) -> bytes:
    runtime: dict[str, object] = {"Env": list(config.env)}
    if config.entrypoint is not None:
        runtime["Entrypoint"] = list(config.entrypoint)
    if config.cmd is not None:
        runtime["Cmd"] = list(config.cmd)
    if config.user:
        runtime["User"] = config.user
    if config.workdir:
        runtime["WorkingDir"] = config.workdir
    return _json(
        {
            "architecture": config.architecture,
            "os": "linux",
            "created": EPOCH,
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created": EPOCH, "created_by": "provision bundle"} for _ in layers],
        }
    )


def write_image(out: Path, ref: str, layers: list[Layer], config: ImageConfig) -> str:
    """Write the image tarball; returns the manifest digest."""
    cfg = config_blob(layers, config)
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _sha(cfg), "size": len(cfg)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": layer.digest, "size": layer.size}
                for layer in layers
            ],
        }
    )
    index = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": _sha(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": tag_of(ref),
                    },
                }
            ],
        }
    )
    docker = _json(
        [
            {
                "Config": _blob_path(_sha(cfg)),
                "RepoTags": [ref],
                "Layers": [_blob_path(layer.digest) for layer in layers],
            }
        ]
    )
    entries: dict[str, bytes | Path] = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": index,
        "manifest.json": docker,
        _blob_path(_sha(cfg)): cfg,
        _blob_path(_sha(manifest)): manifest,
    }
    for layer in layers:
        entries[_blob_path(layer.digest)] = layer.path
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o755))
        for name in sorted(entries):
            content = entries[name]
            if isinstance(content, bytes):
                info = _info(name, tarfile.REGTYPE, 0o644, len(content))
                tar.addfile(info, io.BytesIO(content))
            else:
                with content.open("rb") as fh:
                    info = _info(name, tarfile.REGTYPE, 0o644, os.fstat(fh.fileno()).st_size)
                    tar.addfile(info, fh)
    return _sha(manifest)


def _blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]
