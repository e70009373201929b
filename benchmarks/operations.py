"""Benchmark (not a test): `provision node reset w1`, `provision node replace w1`
and a no-op `provision up` on the running default lab.

    python benchmarks/operations.py     # needs the lab up (`provision up`)
Prints one line per figure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(*args: str) -> float:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "provision", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    return time.monotonic() - start


def main() -> None:
    for label, args in (
        ("no-op up", ("up",)),
        ("node reset w1", ("node", "reset", "w1")),
        ("node replace w1", ("node", "replace", "w1")),
        ("no-op up after them", ("up",)),
    ):
        print(f"{label:22} {timed(*args):7.1f} s", flush=True)


if __name__ == "__main__":
    main()
