"""Benchmark (not a test): node image build, cold and cached; `up` of the
machines for three nodes and for one node, to show whether bring-up is parallel.

    python benchmarks/machines.py            # destroys the default lab first
Prints one line per figure. Needs the docker provider's host (scripts/host-setup).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cluster import one_node_config  # noqa: E402  (benchmarks/cluster.py)

from provision.machines.docker import docker  # noqa: E402
from provision.machines.node_image import ensure_image, image_tag  # noqa: E402
from provision.project import resolve_inventory  # noqa: E402


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "provision", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )


def main() -> None:
    cache = resolve_inventory("lab").cache_dir
    quiet = lambda _line: None  # noqa: E731
    cli("destroy", "--yes")
    docker("rmi", "-f", image_tag(), check=False)
    shutil.rmtree(cache / "node-image", ignore_errors=True)
    print(
        f"image build, cold (no image, no package cache): "
        f"{timed(lambda: ensure_image(cache, quiet)):6.1f} s"
    )
    docker("rmi", "-f", image_tag(), check=False)
    print(
        f"image build, package cache warm:               "
        f"{timed(lambda: ensure_image(cache, quiet)):6.1f} s"
    )
    print(
        f"image, cached (already built):                 "
        f"{timed(lambda: ensure_image(cache, quiet)):6.1f} s"
    )

    print(
        f"up, 3 nodes to reachable:                      "
        f"{timed(lambda: cli('up', '--only', 'machines')):6.1f} s"
    )
    print(
        f"up again (no-op), 3 nodes:                     "
        f"{timed(lambda: cli('up', '--only', 'machines')):6.1f} s"
    )
    cli("destroy", "--yes")

    with tempfile.TemporaryDirectory() as tmp:
        single = one_node_config(ROOT, Path(tmp))
        print(
            f"up, 1 node to reachable:                       "
            f"{timed(lambda: cli('up', '-i', str(single), '--only', 'machines')):6.1f} s"
        )
        cli("destroy", "--yes", "-i", str(single))


if __name__ == "__main__":
    main()
