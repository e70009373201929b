"""Benchmark (not a test): time to a Ready cluster and time of a no-op re-run.

    python benchmarks/cluster.py      # destroys the default lab first
Runs `provision destroy`, then `provision up` from no machines (with the offline
bundle already built: see benchmarks/bundle.py for its build times), then `up`
again. Prints the wall time of each and the per-phase times `up` reports.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def up_phases(output: str) -> str:
    """The per-phase times from `up finished in ...: machines 20.5s, ...`."""
    found = re.search(r"^up finished in [\d.]+ s: (.*)$", output, re.M)
    return found.group(1).strip() if found else "(no phase times in the output)"


def cli(*args: str) -> tuple[float, str]:
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "provision", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return time.monotonic() - start, out.stdout


def main() -> None:
    cli("bundle", "check")  # fails fast, naming the fix, when there is no bundle
    cli("destroy", "--yes")
    took, out = cli("up")
    print(f"up from no machines to a Ready cluster: {took:6.1f} s", flush=True)
    print(f"  phases: {up_phases(out)}", flush=True)
    took, out = cli("up")
    print(f"no-op re-run of up:                     {took:6.1f} s", flush=True)
    print(f"  phases: {up_phases(out)}", flush=True)


if __name__ == "__main__":
    main()
