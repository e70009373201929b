"""Benchmark (not a test): `provision bundle build` with warm Go caches, and with
--cold also with an empty Go build cache (moved aside to a temporary directory
and restored afterwards; the module cache stays, there is no internet here).

    python benchmarks/bundle.py [--cold]
Prints one line per figure (the whole build and its Calico part), plus the
bundle's size.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provision.bundle.gomod import go_caches  # noqa: E402
from provision.config import load  # noqa: E402
from provision.project import resolve_inventory  # noqa: E402
from provision.sources import bundle_dir  # noqa: E402


def build() -> tuple[float, float]:
    """(seconds for the whole build, seconds of its Calico steps)."""
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "provision", "bundle", "build"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    took = time.monotonic() - start
    steps = re.findall(r"^\s*(.+?): done in ([\d.]+) s$", out.stdout, re.M)
    calico = sum(float(s) for what, s in steps if "calico" in what.lower())
    return took, calico


def report(label: str, figures: tuple[float, float]) -> None:
    print(
        f"bundle build, {label}: {figures[0]:7.1f} s (Calico part {figures[1]:.1f} s)", flush=True
    )


def size(path: Path) -> str:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return f"{total / 2**20:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also build with an empty GOCACHE")
    args = parser.parse_args()
    inv = resolve_inventory("lab")
    gocache = Path(go_caches(inv.cache_dir)["GOCACHE"])
    if args.cold:
        aside = Path(tempfile.mkdtemp(prefix="gocache-aside-", dir=gocache.parent))
        if gocache.exists():
            gocache.rename(aside / "build")
        try:
            report("cold (empty Go build cache)", build())
        finally:
            shutil.rmtree(gocache, ignore_errors=True)
            if (aside / "build").exists():
                (aside / "build").rename(gocache)
            aside.rmdir()
    report("warm", build())
    print(f"bundle size: {size(bundle_dir(load(inv.cluster_file)))}")


if __name__ == "__main__":
    main()
