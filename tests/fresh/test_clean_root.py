"""The README's install steps on a clean Debian 12, not on this host.

A bookworm root made by debootstrap (minbase: no Go, git, iproute2, procps, sudo or
Python; none of this host's tools inside) gets the host's own apt and pip settings,
then runs what the README's two commands install: `scripts/host-setup` and
`scripts/host-setup-libvirt` (with --install-only: a chroot starts no Docker engine
or libvirtd), a venv, `pip install .` and tox. Every tool the main command and the
tests call must then be there, at the version they need.

Needs root and debootstrap (scripts/host-setup installs it). About 2 GB in a
temporary directory, removed at the end; the .debs debootstrap fetches are cached
under the provision cache dir.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from provision.apt_mirror import mirror_for
from tests.conftest import ROOT

pytestmark = pytest.mark.fresh

SUITE = "bookworm"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The host's settings a clean machine of this workplace would have too: its package
# index (pip) and the certificates its mirrors are signed with; nothing else of ours.
PASSED_ENV = re.compile(r"^(PIP_[A-Z_]+|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)$")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "provision" / "fresh-debs"


def mounts_under(root: Path) -> list[str]:
    found = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == str(root) or point.startswith(f"{root}/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def in_root(root: Path, script: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """bash -c SCRIPT inside the clean root as root, with a clean environment."""
    env = {k: v for k, v in os.environ.items() if PASSED_ENV.match(k)}
    env.update(HOME="/root", PATH=PATH, LANG="C.UTF-8", DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        ["chroot", str(root), "/bin/bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def must(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out.stdout


def copy_host_settings(root: Path) -> None:
    """The host's apt sources and settings (its mirror, as the node image uses it), DNS,
    and the CA certificates its mirrors are signed with."""
    apt = root / "etc" / "apt"
    for sub in ("sources.list.d", "apt.conf.d", "auth.conf.d", "trusted.gpg.d", "keyrings"):
        src = Path("/etc/apt") / sub
        if src.is_dir():
            (apt / sub).mkdir(parents=True, exist_ok=True)
            for f in src.iterdir():
                if f.is_file():
                    shutil.copy2(f, apt / sub / f.name)
    if Path("/etc/apt/sources.list").is_file():
        shutil.copy2("/etc/apt/sources.list", apt / "sources.list")
    elif (apt / "sources.list").exists() and list((apt / "sources.list.d").glob("*.sources")):
        (apt / "sources.list").unlink()
    shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf", follow_symlinks=True)
    local_ca = root / "usr" / "local" / "share" / "ca-certificates"
    local_ca.mkdir(parents=True, exist_ok=True)
    for f in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy2(f, local_ca / f.name)
    # Package scripts start no service in a chroot (Debian's policy-rc.d convention).
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)


def copy_checkout(root: Path) -> Path:
    """The files of this checkout a clone would have, at /src."""
    dest = root / "src"
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("needs root and debootstrap (scripts/host-setup installs it)")
    root = tmp_path_factory.mktemp("clean-bookworm") / "root"
    debs = cache_dir()
    debs.mkdir(parents=True, exist_ok=True)
    source = mirror_for(SUITE)
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={debs}",
                SUITE,
                str(root),
                source.uri,
            ],
            capture_output=True,
            check=True,
            timeout=900,
        )
        timings["debootstrap"] = time.monotonic() - started
        copy_host_settings(root)
        copy_checkout(root)
        for point, kind in (("proc", "proc"), ("sys", "sysfs")):
            subprocess.run(["mount", "-t", kind, kind, str(root / point)], check=True)
        yield root, timings
    finally:
        for point in mounts_under(root):
            subprocess.run(["umount", "-l", point], check=False)
        leftover = mounts_under(root)
        assert not leftover, f"still mounted, {root} kept: {leftover}"
        shutil.rmtree(root.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(clean_root):
    """What the README's two commands install, run inside the clean root."""
    root, timings = clean_root
    bare = must(
        in_root(
            root,
            "for t in go git ip ps sudo python3 docker vagrant; do command -v $t || true; done",
        )
    )
    assert bare.strip() == "", f"not a clean root, it has: {bare.split()}"
    for step, script in (
        ("host-setup", "cd /src && scripts/host-setup --install-only"),
        ("host-setup-libvirt", "cd /src && scripts/host-setup-libvirt --install-only"),
        ("host-setup-tests", "cd /src && scripts/host-setup-tests --install-only"),
        ("update-ca-certificates", "update-ca-certificates >/dev/null"),
        ("venv + pip install .", "cd /src && python3 -m venv .venv && .venv/bin/pip install -q ."),
        ("pip install tox", "cd /src && .venv/bin/pip install -q tox"),
    ):
        started = time.monotonic()
        out = must(in_root(root, script, timeout=1200))
        timings[step] = time.monotonic() - started
        print(f"clean root: {step} {timings[step]:.0f} s\n{out[-600:]}")
    return root


def version(root: Path, command: str) -> str:
    return must(in_root(root, f"cd /src && {command} 2>&1")).strip()


def tool_id(command: str) -> str:
    words = command.split()
    if words[0] == "command":
        return words[-1]
    if words[1:2] == ["plugin"]:
        return "vagrant-libvirt"
    return words[0].rsplit("/", 1)[-1]


def numbers(text: str, pattern: str) -> tuple[int, ...]:
    found = re.search(pattern, text)
    assert found, f"no version in {text!r}"
    return tuple(int(g) for g in found.groups())


TOOLS = [
    ("python3 --version", r"Python (\d+)\.(\d+)", (3, 11)),
    ("docker --version", r"Docker version (\d+)\.(\d+)", (20, 10)),
    ("vagrant --version", r"Vagrant (\d+)\.(\d+)", (2, 3)),
    ("debootstrap --version", r"debootstrap (\d+)\.(\d+)", (1, 0)),
    ("ssh -V", r"OpenSSH_(\d+)\.(\d+)", (9, 0)),
    ("command -v ssh-keygen", r"^(/usr/bin/ssh-keygen)$", None),
    ("mvn -v", r"Apache Maven (\d+)\.(\d+)", (3, 6)),
    ("git --version", r"git version (\d+)\.(\d+)", (2, 30)),
    ("ip -V", r"iproute2-(\d+)\.(\d+)", (6, 0)),
    ("ps --version", r"procps-ng (\d+)\.(\d+)", (4, 0)),
    ("tar --version", r"tar\) (\d+)\.(\d+)", (1, 30)),
    ("virsh --version", r"^(\d+)\.(\d+)", (9, 0)),
    ("qemu-system-x86_64 --version", r"version (\d+)\.(\d+)", (7, 2)),
    ("qemu-img --version", r"version (\d+)\.(\d+)", (7, 2)),
    ("extlinux --version", r"extlinux (\d+)\.(\d+)", (6, 0)),
    ("sfdisk --version", r"util-linux (\d+)\.(\d+)", (2, 38)),
    ("mkfs.ext4 -V", r"mke2fs (\d+)\.(\d+)", (1, 47)),
    ("losetup --version", r"util-linux (\d+)\.(\d+)", (2, 38)),
    ("vagrant plugin list", r"vagrant-libvirt \((\d+)\.(\d+)", (0, 11)),
    ("chromium --version", r"Chromium (\d+)\.(\d+)", (100, 0)),
    (".venv/bin/tox --version", r"^(\d+)\.(\d+)", (4, 0)),
    (".venv/bin/provision --version", r"version (\d+)\.(\d+)", (0, 1)),
]


def test_go_for_the_bundle_is_1_25_or_newer(installed):
    """Debian 12's Go is 1.19; host-setup installs a newer one where provision finds it."""
    out = version(
        installed,
        ".venv/bin/python -c 'from provision.bundle.gomod import find_go, go_version;"
        " g = find_go(); print(g, go_version(g))'",
    )
    path, _, ver = out.partition(" ")
    assert path.startswith("/root/.local/share/provision/go/"), out
    assert numbers(ver, r"\((\d+), (\d+)\)") >= (1, 25), out
    real = version(installed, f"{path} version")
    assert numbers(real, r"go(\d+)\.(\d+)") >= (1, 25), real


@pytest.mark.parametrize(
    ("command", "pattern", "minimum"), TOOLS, ids=[tool_id(t[0]) for t in TOOLS]
)
def test_every_tool_the_commands_call_is_there(installed, command, pattern, minimum):
    out = version(installed, command)
    found = numbers(out, pattern) if minimum else re.search(pattern, out)
    assert found, out
    if minimum:
        assert found >= minimum, f"{command}: {out}"


def test_the_installed_command_runs_from_the_clone(installed):
    """The wheel `pip install .` made (not the source tree) plans the default lab."""
    out = version(installed, ".venv/bin/provision plan")
    assert "machines" in out and "verify" in out, out
    where = version(
        installed, "cd / && /src/.venv/bin/python -c 'import provision as p; print(p.__file__)'"
    )
    assert "/src/.venv/lib/" in where, where
