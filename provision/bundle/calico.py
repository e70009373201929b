"""Calico in the offline bundle: its manifest and the three images it runs.

    <bundle>/manifests/calico.yaml                  (calico-vxlan.yaml of the module zip)
    <bundle>/images/calico-{node,cni,kube-controllers}-<tag>.tar

Everything comes from one pinned version of the Go module
github.com/projectcalico/calico (never @latest): its zip carries the release
manifests, calico-node's root filesystem files (runit services, start_runit) and
the sources, built with CGO_ENABLED=0 from a wrapper module that repeats the
module's replace block. The images are named exactly as the stored manifest
names them, read from it at build time. Calico's binaries live only inside the
images; calico-node's Debian base (runit and the dataplane tools) is made by
debootstrap like kube-proxy's, in the background from the build's start, and
Debian's containernetworking-plugins, installed in the same debootstrap, give the
reference CNI plugins the conflist uses (kept out of the node layer, put into the
cni image).
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from provision.bundle import gomod
from provision.bundle.background import Step
from provision.bundle.baseimage import REMOVE, BaseLayers, BaseRecipe, kept_dir
from provision.bundle.images import (
    DEFAULT_PATH,
    File,
    ImageConfig,
    Layer,
    add_files,
    tag_of,
    write_image,
    write_layer,
)
from provision.bundle.manifest import Artifact, sha256_of
from provision.errors import BundleError
from provision.runlog import RunLog

MODULE = "github.com/projectcalico/calico"
# The calico repo module, pinned to one version (a pseudo-version: a snapshot whose
# manifests name calico/*:<the release tag>). docs/playbooks.md says which release
# the default lab uses and why.
VERSION = "v1.11.0-cni-plugin.0.20250813170300-a0db560f0520"
# calico's go.mod replaces github.com/projectcalico/api with ./api (not in the zip).
LOCAL_REPLACES = {"github.com/projectcalico/api": "v0.0.0-20240708202104-e3f70b269c2c"}
WRAPPER = "provision.local/calico"
# Read from the module zip in this order; stored in the bundle as BUNDLE_MANIFEST.
MANIFESTS = ("manifests/calico-vxlan.yaml", "manifests/calico.yaml")
BUNDLE_MANIFEST = "manifests/calico.yaml"
COMPONENTS = ("node", "cni", "kube-controllers")  # calico/<component>:<tag>
MAINS = {
    "calico-node": "node/cmd/calico-node",
    "calico": "cni-plugin/cmd/calico",  # also calico-ipam, chosen by the name it runs under
    "install": "cni-plugin/cmd/install",
    "kube-controllers": "kube-controllers/cmd/kube-controllers",
    "check-status": "kube-controllers/cmd/check-status",
}
# Reference plugins (Debian's containernetworking-plugins) copied to the nodes with
# Calico's own: the conflist chains portmap and bandwidth.
CNI_PLUGINS = ("bandwidth", "host-local", "loopback", "portmap", "tuning")
CNI_DIR = "/opt/cni/bin"
NODE_BASE = BaseRecipe(
    "calico-node",
    (
        "runit",
        "iptables",
        "ipset",
        "iproute2",
        "conntrack",
        "kmod",
        "procps",
        "containernetworking-plugins",
    ),
    # /etc/service: runit's link to its own service dir; Calico's layer makes a directory
    remove=(*REMOVE, "usr/lib/cni", "etc/service", "usr/share/doc", "usr/share/man"),
    keep=("usr/lib/cni",),
)
KUBE_CONTROLLERS_UID = 999


_IMAGE = re.compile(r"""^\s*(?:-\s+)?image:\s*["']?([^\s"'#]+)""", re.M)


# --- pure -----------------------------------------------------------------------------


def image_refs(manifest: str) -> dict[str, str]:
    """Every image a Calico manifest runs, by component: {"node": "docker.io/calico/node:v3.28.5"}.

    Refuses a manifest that runs an image provision does not build, lacks one of
    COMPONENTS, or names two tags of one image.
    """
    refs: dict[str, str] = {}
    for ref in _IMAGE.findall(manifest):
        component = ref.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
        if refs.get(component, ref) != ref:
            raise BundleError(
                f"the Calico manifest names two {component} images: {refs[component]} and {ref}\n"
                "  fix: pin another Calico version in provision/bundle/calico.py"
            )
        refs[component] = ref
    unknown = sorted(set(refs) - set(COMPONENTS))
    missing = sorted(set(COMPONENTS) - set(refs))
    if unknown or missing:
        raise BundleError(
            "the Calico manifest does not run exactly calico/{node,cni,kube-controllers}: "
            f"unknown {', '.join(refs[u] for u in unknown) or '-'}; "
            f"missing {', '.join(missing) or '-'}\n"
            "  fix: teach provision/bundle/calico.py to build them, or pin another version"
        )
    return refs


def ldflags(version: str, commit: str, build_date: str) -> str:
    """-s -w and the version variables of calico-node, the CNI plugin and kube-controllers."""
    node = f"{MODULE}/node"
    flags = ["-s", "-w", f"-X main.VERSION={version}"]
    flags += [f"-X {node}/pkg/lifecycle/startup.VERSION={version}"]
    flags += [f"-X {node}/buildinfo.GitVersion={version}"]
    flags += [f"-X {node}/buildinfo.GitRevision={commit}"]
    flags += [f"-X {node}/buildinfo.BuildDate={build_date}"]
    return " ".join(flags)


def commit_of(pseudo_version: str) -> str:
    """v1.11.0-cni-plugin.0.20250813170300-a0db560f0520 -> a0db560f0520."""
    found = re.search(r"\d{14}-([0-9a-f]{12})$", pseudo_version)
    return found.group(1) if found else pseudo_version


def node_files(filesystem: Path) -> tuple[list[File], dict[str, int]]:
    """calico-node's root filesystem files from the zip's node/filesystem, and its empty dirs.

    sbin/* goes to /usr/sbin (as upstream's image does); scripts are made executable
    (module zips carry no modes); placeholder files (.gitkeep) are left out.
    """
    files: list[File] = []
    dirs: dict[str, int] = {}
    for path in sorted(filesystem.rglob("*")):
        rel = path.relative_to(filesystem).as_posix()
        top, _, rest = rel.partition("/")
        dest = "/" + ({"sbin": "usr/sbin", "bin": "usr/bin"}.get(top, top) + "/" + rest).strip("/")
        if path.is_dir():
            if not any(p.name != ".gitkeep" for p in path.iterdir()):
                dirs[dest.strip("/")] = 0o755
            continue
        if path.name == ".gitkeep":
            continue
        data = path.read_bytes()
        script = data.startswith(b"#!") or top == "sbin" or rel == "etc/rc.local"
        files.append(File(dest, data, 0o755 if script else 0o644))
    return files, dirs


# --- build ----------------------------------------------------------------------------


class CalicoBuild:
    """Builds Calico's part of the bundle into `out`, with scratch space in `work`."""

    def __init__(
        self,
        go: gomod.Go,
        cache_dir: Path,
        log: RunLog,
        step: Step,
        arch: str,
        bases: BaseLayers,
    ):
        self.go = go
        self.cache_dir = cache_dir
        self.log = log
        self.step = step
        self.arch = arch
        self.bases = bases

    def start(self) -> None:
        """Start calico-node's base layer in the background."""
        self.bases.start(NODE_BASE)

    def run(self, out: Path, work: Path) -> list[Artifact]:
        module = work / "calico"
        module.mkdir(parents=True)
        info = self.step(
            f"{MODULE} {VERSION} module", lambda: self.go.module_info(MODULE, VERSION, module)
        )
        source = Path(info["Dir"])
        manifest = self._manifest(source, out)
        refs = image_refs(manifest)
        version = tag_of(refs["node"])
        gomod.write_module(
            module,
            {
                "go.mod": gomod.replace_wrapper(
                    Path(info["GoMod"]).read_text(), MODULE, VERSION, WRAPPER, LOCAL_REPLACES
                )
            },
        )
        built = work / "calico-bin"
        flags = ldflags(version, commit_of(VERSION), gomod.build_date(info))
        self.step(
            f"calico {version} binaries ({', '.join(MAINS)})",
            lambda: self.go.build_all(
                module, [f"{MODULE}/{p}" for p in MAINS.values()], built, flags, "calico"
            ),
        )
        base = self.bases.layer(NODE_BASE)
        artifacts = [_artifact(out, BUNDLE_MANIFEST, "calico", "manifest", version)]
        for component in COMPONENTS:
            ref = refs[component]
            path = f"images/calico-{component}-{tag_of(ref)}.tar"
            self.step(
                f"image {ref}",
                partial(self._image, component, ref, out / path, source, built, work, base),
            )
            artifacts.append(_artifact(out, path, ref, "image", tag_of(ref)))
        return artifacts

    def _manifest(self, source: Path, out: Path) -> str:
        for rel in MANIFESTS:
            if (source / rel).is_file():
                text = (source / rel).read_text()
                (out / BUNDLE_MANIFEST).parent.mkdir(parents=True, exist_ok=True)
                (out / BUNDLE_MANIFEST).write_text(text)
                self.log.say(f"  Calico manifest: {rel} of {MODULE} {VERSION}")
                return text
        raise BundleError(
            f"{MODULE} {VERSION} carries none of {', '.join(MANIFESTS)}\n"
            "  fix: pin another Calico version in provision/bundle/calico.py"
        )

    def _image(
        self,
        component: str,
        ref: str,
        out: Path,
        source: Path,
        built: Path,
        work: Path,
        base: Layer,
    ) -> None:
        layers: list[Layer] = []
        dirs: dict[str, int] = {"tmp": 0o1777}
        if component == "node":
            layers.append(base)
            files, dirs = node_files(source / "node" / "filesystem")
            files += [
                # /bin is a link to usr/bin in the base: a layer must not make it a directory
                File("/usr/bin/calico-node", built / "calico-node"),
                File("/licenses/LICENSE", source / "node" / "LICENSE", 0o644),
            ]
            env = [DEFAULT_PATH, "SVDIR=/etc/service/enabled"]
            config = ImageConfig(cmd=["start_runit"], env=env, architecture=self.arch)
        elif component == "cni":
            plugins = kept_dir(self.cache_dir, NODE_BASE) / "usr" / "lib" / "cni"
            files = [
                File(f"{CNI_DIR}/install", built / "install"),
                File(f"{CNI_DIR}/calico", built / "calico"),
                File(f"{CNI_DIR}/calico-ipam", b"", link=f"{CNI_DIR}/calico"),
                File("/licenses/LICENSE", source / "cni-plugin" / "LICENSE", 0o644),
            ]
            for name in CNI_PLUGINS:
                if not (plugins / name).is_file():
                    raise BundleError(
                        f"Debian's containernetworking-plugins has no {name} ({plugins})\n"
                        "  fix: check CNI_PLUGINS in provision/bundle/calico.py"
                    )
                files.append(File(f"{CNI_DIR}/{name}", plugins / name))
            config = ImageConfig(
                cmd=[f"{CNI_DIR}/install"],
                env=[DEFAULT_PATH.replace("PATH=", f"PATH={CNI_DIR}:", 1)],
                workdir=CNI_DIR,
                architecture=self.arch,
            )
        elif component == "kube-controllers":
            uid = KUBE_CONTROLLERS_UID
            files = [
                File("/usr/bin/kube-controllers", built / "kube-controllers"),
                File("/usr/bin/check-status", built / "check-status"),
                File("/status/status.json", b"", 0o644, uid, uid),
                File("/profiles/mem.pprof", b"", 0o644, uid, uid),
                File("/profiles/cpu.pprof", b"", 0o644, uid, uid),
                File("/licenses/LICENSE", source / "kube-controllers" / "LICENSE", 0o644),
            ]
            config = ImageConfig(
                entrypoint=["/usr/bin/kube-controllers"],
                user=str(uid),
                architecture=self.arch,
            )
        else:  # image_refs lets no other component through
            raise BundleError(f"provision cannot build {ref}")
        layer_path = work / f"calico-{component}.layer"
        layers.append(write_layer(layer_path, lambda tar: add_files(tar, files, dirs)))
        write_image(out, ref, layers, config)
        layer_path.unlink()


def _artifact(root: Path, path: str, name: str, kind: str, version: str) -> Artifact:
    return Artifact(name, kind, path, version, sha256_of(root / path))
