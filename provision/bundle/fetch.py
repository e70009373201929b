"""`provision bundle fetch`: the online path, a bundle made of upstream release downloads.

    <bundle>/bin/{kubeadm,kubelet,kubectl}   {release_url}/v{version}/bin/linux/{arch}/{name}
    <bundle>/manifests/calico.yaml           {calico_url}/v{calico}/manifests/calico.yaml
    <bundle>/manifest.json                   the same format `provision bundle build` writes

so `up` installs from it exactly as from a built bundle. It holds no images: on the online
path the nodes pull them from their registries.

Every file must match a pinned sha256 (checksums.py, or the config's artifacts.checksums),
all resolved before anything is downloaded. Each download streams into a staging directory
next to the bundle and is hashed as it streams. Connection errors, timeouts, cut-off bodies
and HTTP 5xx/408/429 are retried with exponential backoff; other HTTP errors and a checksum
mismatch are not. The bundle directory is replaced only when every file is verified; on any
failure the staging directory is removed and a previous bundle is left as it was. urllib
honours http_proxy, https_proxy and no_proxy.
"""

from __future__ import annotations

import hashlib
import http.client
import platform
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.bundle.checksums import MissingChecksum, calico_sha256, kubernetes_sha256
from provision.bundle.manifest import (
    Artifact,
    read_manifest,
    staging,
    swap_in,
    verify,
    write_manifest,
)
from provision.config.model import ClusterConfig
from provision.errors import BundleError
from provision.sources import bundle_dir

KUBE_BINARIES = ("kubeadm", "kubelet", "kubectl")
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
CHUNK = 1 << 20
USER_AGENT = "provision-bundle-fetch/1"
RETRY_HTTP = {408, 429}


class FetchError(BundleError):
    """A download that failed or could not be verified."""


class ChecksumMismatch(FetchError):
    """A download whose sha256 is not the pinned one (never retried)."""


class _Transient(Exception):
    """A failure worth another attempt: connection, timeout, cut-off body, 5xx."""


@dataclass(frozen=True)
class Download:
    name: str  # manifest name: kubeadm | kubelet | kubectl | calico
    kind: str  # binary | manifest
    path: str  # relative to the bundle directory
    version: str
    url: str
    sha256: str
    pinned_by: str  # where the sha256 comes from


def host_arch() -> str:
    machine = platform.machine().lower()
    if machine not in ARCH:
        raise BundleError(
            f"no Kubernetes release binaries for this host's CPU ({machine})\n"
            "  fix: pass --arch with the nodes' architecture (amd64 or arm64)"
        )
    return ARCH[machine]


def plan(config: ClusterConfig, arch: str) -> list[Download]:
    """What to download, from where, with which sha256; refuses any artifact without a pin."""
    kubernetes = config.versions.kubernetes.lstrip("v")
    calico = config.versions.calico.lstrip("v")
    art = config.artifacts
    release = art.release_url.rstrip("/")
    downloads: list[Download] = []
    missing: list[str] = []
    for name in KUBE_BINARIES:
        try:
            sha, source = kubernetes_sha256(kubernetes, arch, name, art.checksums)
        except MissingChecksum as e:
            missing.append(str(e))
            continue
        url = f"{release}/v{kubernetes}/bin/linux/{arch}/{name}"
        downloads.append(Download(name, "binary", f"bin/{name}", kubernetes, url, sha, source))
    try:
        sha, source = calico_sha256(calico, art.checksums)
        url = f"{art.calico_url.rstrip('/')}/v{calico}/manifests/calico.yaml"
        downloads.append(
            Download("calico", "manifest", "manifests/calico.yaml", f"v{calico}", url, sha, source)
        )
    except MissingChecksum as e:
        missing.append(str(e))
    if missing:
        raise MissingChecksum("\n".join(missing))
    return downloads


class Fetch:
    def __init__(
        self,
        config: ClusterConfig,
        log,
        arch: str | None = None,
        *,
        attempts: int = 4,
        backoff: float = 2.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self.log = log
        self.arch = arch or host_arch()
        self.kubernetes = config.versions.kubernetes.lstrip("v")
        self.bundle = bundle_dir(config)
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep

    def run(self) -> list[Artifact]:
        """Download and verify everything, then put the bundle in place; its artifacts."""
        downloads = plan(self.config, self.arch)
        proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
        if proxies:
            self.log.say(f"  through proxy {', '.join(f'{k}: {v}' for k, v in proxies.items())}")
        with staging(self.bundle, "fetch", self.log.say) as stage:
            out = stage / "bundle"
            artifacts = [self._fetch(d, out) for d in downloads]
            write_manifest(out, self.kubernetes, artifacts)
            verify(out, read_manifest(out, self.kubernetes))
            swap_in(out, self.bundle, stage)
        self.log.say(f"bundle ready: {self.bundle} (linux/{self.arch}, no images)")
        return artifacts

    def _fetch(self, d: Download, out: Path) -> Artifact:
        dest = out / d.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        self.log.say(f"  {d.path}: {d.url}")
        for attempt in range(1, self.attempts + 1):
            try:
                got, size = self._stream(d.url, part)
                break
            except _Transient as e:
                if attempt == self.attempts:
                    raise FetchError(
                        f"{d.name}: cannot download {d.url}: {e} "
                        f"({self.attempts} attempts)\n"
                        "  fix: check the network, the proxy (https_proxy, no_proxy) and "
                        + _url_field(d)
                    ) from None
                delay = self.backoff * 2 ** (attempt - 1)
                self.log.say(
                    f"  {d.path}: {e}; attempt {attempt + 1} of {self.attempts} in {delay:.0f} s",
                    style="yellow",
                )
                self.sleep(delay)
        if got != d.sha256:
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{d.name}: the sha256 of {d.url} is not the pinned one\n"
                f"    expected {d.sha256} ({d.pinned_by})\n"
                f"    got      {got} ({_size(size)})\n"
                f"  fix: this is not the file that was pinned: check {_url_field(d)} and any "
                "proxy or mirror in between; change the pin only after checking the file "
                "against the release's own published checksum"
            )
        part.rename(dest)
        if d.kind == "binary":
            dest.chmod(0o755)
        self.log.say(f"  {d.path}: sha256 {got} verified ({_size(size)}, {d.pinned_by})")
        return Artifact(d.name, d.kind, d.path, d.version, got)

    def _stream(self, url: str, part: Path) -> tuple[str, int]:
        """Download `url` into `part`: (sha256, size). Raises _Transient or FetchError."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        digest = hashlib.sha256()
        size = 0
        try:
            with (
                urllib.request.urlopen(request, timeout=self.timeout) as response,
                part.open("wb") as f,
            ):
                expected = response.headers.get("Content-Length")
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code >= 500 or e.code in RETRY_HTTP:
                raise _Transient(f"HTTP {e.code} {e.reason}") from None
            raise FetchError(
                f"{url}: HTTP {e.code} {e.reason}\n"
                "  fix: check versions (kubernetes, calico) and artifacts.release_url / "
                "artifacts.calico_url; the layout is {release_url}/v{version}/bin/linux/{arch}/"
                "{name} and {calico_url}/v{version}/manifests/calico.yaml"
            ) from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                raise FetchError(
                    f"{url}: TLS certificate not trusted ({e.reason.verify_message})\n"
                    "  fix: if a proxy intercepts TLS, add its CA to the system trust store "
                    "(or SSL_CERT_FILE)"
                ) from None
            raise _Transient(str(e.reason)) from None
        except (TimeoutError, ConnectionError, ssl.SSLError, http.client.HTTPException) as e:
            raise _Transient(f"{type(e).__name__}: {e}") from None
        except OSError as e:
            raise FetchError(f"cannot write {part}: {e}\n  fix: free space there") from None
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise _Transient(f"connection closed after {size} of {expected} bytes")
        return digest.hexdigest(), size


def _url_field(d: Download) -> str:
    return "artifacts.calico_url" if d.kind == "manifest" else "artifacts.release_url"


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} byte{'s' if n != 1 else ''}"
