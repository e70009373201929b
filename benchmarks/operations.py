"""Benchmark (not a test): `provision node reset w1`, `provision node replace w1`,
a no-op `provision up`, and the operator's bad day: `backup`, `restore` of it,
`node replace cp1` and `node replace w2` (the add-ons' data node) on the running
default lab.

    python benchmarks/operations.py     # needs the lab up (`provision up`)
Prints one line per figure.
"""

from __future__ import annotations

import re

from cluster import cli  # benchmarks/cluster.py: runs provision, times it


def stages(output: str) -> str:
    """`<== node replace cp1: prepare done in 191.2 s` lines, as `prepare 191s`."""
    found = re.findall(r"^<== [^:]+: (\S+) done in ([\d.]+) s$", output, re.M)
    return ", ".join(f"{name} {float(s):.0f}s" for name, s in found)


def main() -> None:
    archive = ""
    for label, args in (
        ("no-op up", ("up",)),
        ("node reset w1", ("node", "reset", "w1")),
        ("node replace w1", ("node", "replace", "w1")),
        ("no-op up after them", ("up",)),
        ("backup", ("backup",)),
        ("restore", ("restore", "--force")),
        ("node replace cp1", ("node", "replace", "cp1")),
        ("node replace w2", ("node", "replace", "w2", "--force")),
    ):
        if label == "restore":
            args = (*args, archive)
        took, out = cli(*args)
        if label == "backup":
            archive = out.split("backup written: ", 1)[1].split()[0]
        detail = stages(out)
        print(f"{label:22} {took:7.1f} s" + (f"  ({detail})" if detail else ""), flush=True)


if __name__ == "__main__":
    main()
