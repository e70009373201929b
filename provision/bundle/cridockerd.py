"""cri-dockerd in the offline bundle: the CRI shim that lets the kubelet use Docker Engine.

    <bundle>/bin/cri-dockerd    (static, CGO_ENABLED=0, from github.com/Mirantis/cri-dockerd)

Built from one pinned version of the Go module (never @latest: a module proxy may
refuse @latest and the version list). Its go.mod has replace directives, which a
dependency's go.mod cannot carry, so `go install module@version` cannot build it:
the binary is built from a wrapper module that repeats them. The wrapper also
takes upstream's go.sum, part of the module zip the checksum database verified, so
dependencies a checksum database may not know are still pinned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from provision.bundle import gomod
from provision.errors import BundleError

MODULE = "github.com/Mirantis/cri-dockerd"
WRAPPER = "provision.local/cri-dockerd"
VERSION_PACKAGE = f"{MODULE}/cmd/version"  # Version, PreRelease, GitCommit (upstream Makefile)
BUNDLE_PATH = "bin/cri-dockerd"


def module_version(version: str) -> str:
    """0.3.17 -> v0.3.17 (the module's tag)."""
    return "v" + version.lstrip("v")


def commit_of(info: dict) -> str | None:
    """The short commit (7 hex digits, as upstream's `git log %h`) of a module .info, if known."""
    origin = info.get("Origin") or {}
    commit = origin.get("Hash", "")
    if origin.get("VCS") == "git" and re.fullmatch(r"[0-9a-f]{40}", commit):
        return commit[:7]
    return None


def ldflags(version: str, commit: str | None) -> str:
    """-s -w and the version variables `cri-dockerd --version` prints: "0.3.17 (2104021)"."""
    values = {"Version": version.lstrip("v"), "PreRelease": ""}
    if commit:
        values["GitCommit"] = commit
    flags = ["-s", "-w"]
    flags += [f"-X {VERSION_PACKAGE}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


def wrapper_files(upstream_gomod: str, upstream_gosum: str, version: str) -> dict[str, str]:
    """go.mod (requires cri-dockerd, repeats its replace block) and upstream's go.sum."""
    gomod_text = gomod.replace_wrapper(
        upstream_gomod, MODULE, module_version(version), WRAPPER, local={}
    )
    return {"go.mod": gomod_text, "go.sum": upstream_gosum}


def build(go: gomod.Go, version: str, module_dir: Path, out: Path) -> float:
    """Build cri-dockerd VERSION into out; seconds taken."""
    tag = module_version(version)
    module_dir.mkdir(parents=True, exist_ok=True)
    info = go.module_info(MODULE, tag, module_dir)
    upstream_gosum = Path(info["Dir"]) / "go.sum"
    if not upstream_gosum.is_file():
        raise BundleError(
            f"{MODULE}@{tag} has no go.sum\n"
            "  fix: pin a cri-dockerd release whose module carries its go.sum"
        )
    files = wrapper_files(Path(info["GoMod"]).read_text(), upstream_gosum.read_text(), version)
    gomod.write_module(module_dir, files)
    commit = commit_of(json.loads(Path(info["Info"]).read_text()))
    out.parent.mkdir(parents=True, exist_ok=True)
    return go.build(module_dir, MODULE, out, ldflags(version, commit), "cri-dockerd")
