"""Benchmark (not a test): wall time of the prepare and runtime phases on the
default lab's three fresh nodes, first run and second (no-op) run.

    python benchmarks/runtime.py      # destroys the default lab first
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> float:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "provision", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    return time.monotonic() - start


def main() -> None:
    cli("destroy", "--yes")
    cli("up", "--only", "machines")
    print(
        f"prepare+runtime, first run on 3 fresh nodes: "
        f"{cli('up', '--only', 'prepare,runtime'):6.1f} s"
    )
    print(
        f"prepare+runtime, second run (no change):      "
        f"{cli('up', '--only', 'prepare,runtime'):6.1f} s"
    )


if __name__ == "__main__":
    main()
