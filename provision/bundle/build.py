"""`provision bundle build`: the offline bundle for the pinned Kubernetes release.

    <bundle>/bin/{kubeadm,kubelet,kubectl,etcdctl,etcdutl}
    <bundle>/bin/cri-dockerd             (the CRI shim for Docker Engine, see cridockerd.py)
    <bundle>/images/<name>-<tag>.tar     (one per image kubeadm lists)
    <bundle>/images/calico-*-<tag>.tar   (the images the Calico manifest runs)
    <bundle>/manifests/calico.yaml       (Calico's manifest, see calico.py)
    <bundle>/manifest.json               (every artifact with version and sha256)

Everything is built from source through the Go module proxy; images are written
without a registry. The bundle is built in a temporary directory next to its
place and renamed into place only when every step succeeded.

The Go builds run one after another in the foreground (each `go build` of a module
builds all of its binaries at once: shared packages compile once, links overlap);
what needs no Go output (the Debian base layers, the Maven fetches) runs beside them
in the background from the start (background.py). The images are put together
from both at the end.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from provision.bundle import cridockerd, gomod
from provision.bundle.addon_images import AddonImages, ImageRecipe, wanted_images
from provision.bundle.background import Background
from provision.bundle.baseimage import KUBE_PROXY, BaseLayers
from provision.bundle.calico import CalicoBuild
from provision.bundle.images import File, ImageConfig, Layer, add_files, write_image, write_layer
from provision.bundle.manifest import Artifact, sha256_of, staging, swap_in, write_manifest
from provision.config.model import ClusterConfig
from provision.errors import BundleError
from provision.project import Inventory
from provision.runlog import RunLog
from provision.sources import bundle_dir

KUBE_BINARIES = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)
BUNDLE_BINARIES = ("kubeadm", "kubelet", "kubectl", "etcdctl", "etcdutl")
ETCD_TOOLS = ("etcdctl", "etcdutl")
# etcdutl is etcd's offline tool: `snapshot restore` and `snapshot status`
ETCD_PACKAGES = ("./cmd/etcd", "go.etcd.io/etcd/etcdctl/v3", "go.etcd.io/etcd/etcdutl/v3")
STATIC_CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
T = TypeVar("T")


@dataclass(frozen=True)
class ImageRefs:
    """What kubeadm runs for this release, by component."""

    refs: dict[str, str]  # component (kube-apiserver, etcd, coredns, pause, ...) -> reference

    @classmethod
    def parse(cls, listing: str) -> ImageRefs:
        refs = {}
        for ref in listing.split():
            name = ref.rsplit("/", 1)[-1].split(":", 1)[0]
            refs[name] = ref
        missing = {*STATIC_CONTROL_PLANE, "kube-proxy", "etcd", "coredns", "pause"} - set(refs)
        if missing:
            raise BundleError(
                f"`kubeadm config images list` did not list {', '.join(sorted(missing))}:\n"
                f"    {listing.strip()}\n"
                "  fix: this Kubernetes release needs support in provision/bundle/build.py"
            )
        return cls(refs)

    def tag(self, name: str) -> str:
        return self.refs[name].rsplit(":", 1)[1]

    def etcd_version(self) -> str:
        """registry.k8s.io/etcd:3.6.6-0 -> v3.6.6."""
        return "v" + re.sub(r"-\d+$", "", self.tag("etcd")).lstrip("v")

    def coredns_version(self) -> str:
        return "v" + self.tag("coredns").lstrip("v")


class BundleBuild:
    def __init__(
        self,
        inv: Inventory,
        config: ClusterConfig,
        log: RunLog,
        also: tuple[str, ...] = (),
        recipes: Sequence[ImageRecipe] = (),
    ):
        """recipes: the add-on images it makes (the add-ons' registry has them)."""
        self.inv = inv
        self.config = config
        self.log = log
        self.kubernetes = config.versions.kubernetes.lstrip("v")
        # other Kubernetes releases the bundle holds too (for an upgrade), checked first
        self.also = tuple(
            dict.fromkeys(v.lstrip("v") for v in also if v.lstrip("v") != self.kubernetes)
        )
        self.releases: dict[str, list[str]] = {}
        self.bundle = bundle_dir(config)
        self.go = gomod.Go(inv.cache_dir, log.dir / "go")
        self.timings: list[tuple[str, float]] = []
        self.background: Background | None = None
        self.recipes = tuple(recipes)

    def run(self) -> list[tuple[str, float]]:
        """Build the whole bundle; (step, seconds) for each step of the foreground (a wait
        for the background is one), so they add up to the time the build took."""
        self.go.check_installed()
        self.go.log_dir.mkdir(parents=True, exist_ok=True)
        # the background ends (its commands stopped) before the staging dir is removed
        with (
            staging(self.bundle, "build", self.log.say) as stage,
            Background(self.log.say, self._step) as background,
        ):
            self.background = background
            self.go.stop = background.failed  # a failed background step stops the Go build
            out, work = stage / "bundle", stage / "work"
            (out / "bin").mkdir(parents=True)
            (out / "images").mkdir()
            work.mkdir()
            artifacts = self._build(out, work, background)
            write_manifest(out, self.kubernetes, artifacts, self.releases if self.also else None)
            shutil.rmtree(work)
            swap_in(out, self.bundle, stage)
        busy = sum(took for _, took in background.timings)
        self.log.say(
            f"  [background] {len(background.timings)} steps, {busy:.1f} s beside the foreground"
        )
        self.log.say(f"bundle ready: {self.bundle} ({_size(self.bundle)})")
        return self.timings

    # --- steps -----------------------------------------------------------------------

    def _step(self, what: str, fn: Callable[[], T]) -> T:
        if self.background is not None:
            self.background.check()  # a failed background step ends the build here
        self.log.say(f"  {what} ...")
        started = time.monotonic()
        result = fn()
        took = time.monotonic() - started
        self.timings.append((what, took))
        self.log.say(f"  {what}: done in {took:.1f} s")
        return result

    def _build(self, out: Path, work: Path, background: Background) -> list[Artifact]:
        arch = ARCH.get(platform.machine(), platform.machine())
        bases = BaseLayers(background, self.inv.cache_dir, self.log.dir)
        calico = CalicoBuild(self.go, self.inv.cache_dir, self.log, self._step, arch, bases)
        addons = AddonImages(
            self.inv.cache_dir,
            self.log,
            self._step,
            self.config.versions.zipkin,
            wanted_images(self.config.addons.images),
            bases,
            self.recipes,
        )
        # in the order the images need them
        bases.start(KUBE_PROXY)
        calico.start()
        addons.start(work)
        artifacts = self._release(self.kubernetes, "bin", out, work, bases)
        for version in self.also:
            artifacts += self._release(version, f"releases/{version}/bin", out, work, bases)
        cri_dockerd = self.config.versions.cri_dockerd
        self._step(
            f"cri-dockerd {cri_dockerd}",
            lambda: cridockerd.build(
                self.go, cri_dockerd, work / "cri-dockerd", out / cridockerd.BUNDLE_PATH
            ),
        )
        artifacts.append(
            _artifact(out, cridockerd.BUNDLE_PATH, "cri-dockerd", "binary", cri_dockerd)
        )
        artifacts += calico.run(out, work)
        artifacts += addons.run(out, work)
        return artifacts

    def _release(
        self, version: str, bin_dir: str, out: Path, work: Path, bases: BaseLayers
    ) -> list[Artifact]:
        """One Kubernetes release: its binaries under `bin_dir` of the bundle and the
        images kubeadm lists for it. An image another release has already (the same
        etcd, CoreDNS or pause) is built once."""
        built = work / f"bin-{version}"
        built.mkdir()
        self._kubernetes(version, work / f"kubernetes-{version}", built)
        images = self._step(
            f"kubeadm {version} config images list", lambda: self._image_refs(version, built)
        )
        self._etcd(work / f"etcd-{version}", built, images.etcd_version())
        self._step(
            f"coredns {images.coredns_version()}",
            lambda: self.go.install(
                f"github.com/coredns/coredns@{images.coredns_version()}",
                built,
                "-s -w",
                "coredns",
            ),
        )
        self._step(
            "pause", lambda: self._pause(work / f"pause-{version}", built, images.tag("pause"))
        )
        base = bases.layer(KUBE_PROXY)
        (out / bin_dir).mkdir(parents=True, exist_ok=True)
        artifacts = []
        for name in BUNDLE_BINARIES:
            path = f"{bin_dir}/{name}"
            shutil.copy2(built / name, out / path)
            made = images.etcd_version()[1:] if name in ETCD_TOOLS else version
            artifacts.append(_artifact(out, path, name, "binary", made))
        for name, ref in sorted(images.refs.items()):
            path = f"images/{name}-{images.tag(name)}.tar"
            if not (out / path).exists():
                self._step(
                    f"image {ref}",
                    partial(self._image, name, ref, out / path, built, work, base),
                )
            artifacts.append(_artifact(out, path, ref, "image", images.tag(name)))
        self.releases[version] = [a.path for a in artifacts]
        return artifacts

    def _kubernetes(self, kubernetes: str, module: Path, built: Path) -> None:
        version = "v" + kubernetes
        module.mkdir()
        info = self._step(
            f"k8s.io/kubernetes {version} module",
            lambda: self.go.module_info("k8s.io/kubernetes", version, module),
        )
        upstream = Path(info["GoMod"]).read_text()
        gomod.write_module(
            module,
            {"go.mod": gomod.kubernetes_wrapper(upstream, version, "provision.local/kubernetes")},
        )
        ldflags = gomod.kubernetes_ldflags(version, gomod.build_date(info))
        self._step(
            f"kubernetes {version} binaries ({', '.join(KUBE_BINARIES)})",
            lambda: self.go.build_all(
                module,
                [f"k8s.io/kubernetes/cmd/{n}" for n in KUBE_BINARIES],
                built,
                ldflags,
                "kubernetes",
            ),
        )

    def _image_refs(self, kubernetes: str, built: Path) -> ImageRefs:
        cmd = [str(built / "kubeadm"), "config", "images", "list"]
        cmd += ["--kubernetes-version", "v" + kubernetes]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        self.log.write(f"$ kubeadm config images list:\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise BundleError(
                f"kubeadm config images list failed with exit {done.returncode}:\n"
                f"    {done.stderr.strip()}\n  fix: see {self.log.path}"
            )
        return ImageRefs.parse(done.stdout)

    def _etcd(self, module: Path, built: Path, version: str) -> None:
        requires = {
            "go.etcd.io/etcd/server/v3": version,
            "go.etcd.io/etcd/etcdctl/v3": version,
            "go.etcd.io/etcd/etcdutl/v3": version,
        }
        gomod.write_module(
            module,
            {
                "go.mod": gomod.plain_wrapper("provision.local/etcd", requires),
                "cmd/etcd/main.go": gomod.ETCD_MAIN,
            },
        )
        ldflags = f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={version}"
        self._step(
            f"etcd {version} binaries (etcd, {', '.join(ETCD_TOOLS)})",
            lambda: self.go.build_all(module, list(ETCD_PACKAGES), built, ldflags, "etcd"),
        )

    def _pause(self, module: Path, built: Path, version: str) -> None:
        gomod.write_module(
            module,
            {"go.mod": "module provision.local/pause\n\ngo 1.24\n", "main.go": gomod.PAUSE_MAIN},
        )
        ldflags = f"-s -w -X main.version={version}"
        self.go.build(module, ".", built / "pause", ldflags, "pause")

    def _image(self, name: str, ref: str, out: Path, built: Path, work: Path, base: Layer) -> None:
        arch = ARCH.get(platform.machine(), platform.machine())
        bin_dir = "/usr/local/bin"
        layers: list[Layer] = []
        if name == "kube-proxy":
            layers.append(base)
            files = [File(f"{bin_dir}/kube-proxy", built / "kube-proxy")]
            entrypoint = [f"{bin_dir}/kube-proxy"]
        elif name == "etcd":
            files = [File(f"{bin_dir}/{b}", built / b) for b in ("etcd", *ETCD_TOOLS)]
            entrypoint = [f"{bin_dir}/etcd"]
        elif name == "coredns":
            files = [File("/coredns", built / "coredns")]
            entrypoint = ["/coredns"]
        elif name == "pause":
            files = [File("/pause", built / "pause")]
            entrypoint = ["/pause"]
        elif name in STATIC_CONTROL_PLANE:
            files = [File(f"{bin_dir}/{name}", built / name)]
            entrypoint = [f"{bin_dir}/{name}"]
        else:
            raise BundleError(
                f"kubeadm lists an image provision cannot build: {ref}\n"
                "  fix: add it to provision/bundle/build.py"
            )
        # the static images get an empty /tmp; the Debian base has its own
        dirs = {} if name == "kube-proxy" else {"tmp": 0o1777}
        layers.append(write_layer(work / f"{name}.layer", lambda tar: add_files(tar, files, dirs)))
        write_image(out, ref, layers, ImageConfig(entrypoint=entrypoint, architecture=arch))
        (work / f"{name}.layer").unlink()


def _artifact(root: Path, path: str, name: str, kind: str, version: str) -> Artifact:
    return Artifact(name, kind, path, version, sha256_of(root / path))


def _size(path: Path) -> str:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return f"{total / 2**20:.0f} MiB"
