"""Benchmark (not a test): the speed figures of issue 14, on the default lab.

    python benchmarks/cluster.py                  # destroys the default lab first
    python benchmarks/cluster.py --against REF    # the same figures for REF first

Needs the offline bundle (`provision bundle build`) and the node image built once
(a first `up` does it); every figure is then a warm-cache one. Prints:
  - `up` from no machines: when the 1+2 cluster was Ready with Calico and the
    pod-network probe (the phases through join) and when the whole verified stack
    was (the whole `up`);
  - a no-op `up` (converged playbooks skipped), and `up --full`, which runs every
    playbook, with the most tasks any host changed (0 is the goal), and the
    latter through Mitogen when it is installed (`pip install -e '.[fast]'`);
  - `node replace w1` back to Ready with its pods;
  - each phase through join for 3 nodes and for 1 node, and their ratio;
  - the slowest tasks of each phase of the first `up` (its playbooks.json).
With --against, a git worktree of REF is measured the same way before this tree,
and the figures are printed side by side. Both labs are named `lab`, so they run
one after the other, each destroyed before the next.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
READY = ("machines", "prepare", "runtime", "kubernetes", "control-plane", "network", "join")


def cli(*args: str, root: Path = ROOT, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run `provision` of the tree at root; (seconds, stdout)."""
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "provision", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "PROVISION_ROOT": str(root), **(env or {})},
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return time.monotonic() - start, out.stdout


def phases(output: str) -> dict[str, float]:
    """{phase: seconds} from `up finished in ...: machines 20.5s, ...`."""
    found = re.search(r"^up finished in [\d.]+ s: (.*)$", output, re.M)
    if not found:
        return {}
    return {name: float(s) for name, s in re.findall(r"([\w-]+) ([\d.]+)s", found.group(1))}


def run_dir(output: str) -> Path | None:
    found = re.search(r"log (\S+)/run\.log", output)
    return Path(found.group(1)) if found else None


def playbooks(output: str) -> list[dict]:
    where = run_dir(output)
    if where is None or not (where / "playbooks.json").is_file():
        return []
    return json.loads((where / "playbooks.json").read_text())


def one_node_config(root: Path, tmp: Path) -> Path:
    config = yaml.safe_load((root / "inventories" / "lab" / "cluster.yml").read_text())
    config["cluster"]["name"] = "bench1"
    config["nodes"] = config["nodes"][:1]
    for addon in config["addons"].values():
        if isinstance(addon, dict) and "enabled" in addon:
            addon["enabled"] = False
    config["addons"]["validate_only"] = []  # names only enabled add-ons' parts
    path = tmp / "bench1" / "cluster.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def measure(root: Path) -> dict:
    """Every figure for the tree at root (each printed as it is taken, so a failure
    later loses none); leaves no lab behind."""
    figures: dict = {}

    def took(label: str, seconds: float) -> float:
        print(f"  {root.name}: {label}: {seconds:.1f} s", flush=True)
        return seconds

    cli("bundle", "check", root=root)  # fails fast, naming the fix, without a bundle
    cli("destroy", "--yes", root=root)
    seconds, out = cli("up", root=root)
    figures["up"] = took("up from no machines", seconds)
    figures["phases"] = phases(out)
    print(f"  {root.name}: phases: {figures['phases']}", flush=True)
    figures["ready"] = sum(figures["phases"].get(p, 0.0) for p in READY)
    figures["profile"] = {
        Path(p["playbook"]).stem: sorted(p["task_seconds"].items(), key=lambda t: -t[1])[:3]
        for p in playbooks(out)
    }
    seconds, out = cli("up", root=root)
    figures["noop"] = took("no-op up", seconds)
    figures["noop_changed"] = max(
        (h["changed"] for p in playbooks(out) for h in p["hosts"].values()), default=-1
    )
    # every playbook run again, as before converged playbooks were skipped
    full = ("up", "--full") if "--full" in cli("up", "--help", root=root)[1] else ("up",)
    seconds, out = cli(*full, root=root)
    figures["noop_full"] = took("no-op up, every playbook run", seconds)
    figures["noop_full_changed"] = max(
        (h["changed"] for p in playbooks(out) for h in p["hosts"].values()), default=-1
    )
    if importlib.util.find_spec("ansible_mitogen") is not None:
        seconds, _ = cli(*full, root=root, env={"PROVISION_ANSIBLE_STRATEGY": "mitogen"})
        figures["noop_mitogen"] = took("no-op up, every playbook run, through Mitogen", seconds)
    figures["replace_w1"] = took("node replace w1", cli("node", "replace", "w1", root=root)[0])
    cli("destroy", "--yes", root=root)
    with tempfile.TemporaryDirectory() as tmp:
        single = one_node_config(root, Path(tmp))
        try:
            _, out = cli("up", "-i", str(single), "--only", ",".join(READY), root=root)
            figures["one_node"] = phases(out)
            print(f"  {root.name}: one node, phases: {figures['one_node']}", flush=True)
        finally:
            cli("destroy", "--yes", "-i", str(single), root=root)
    return figures


def report(sides: dict[str, dict]) -> None:
    names = list(sides)
    head = f"{'':44}" + "".join(f"{n:>14}" for n in names)
    print(head)

    def row(label: str, values: list[str]) -> None:
        print(f"{label:44}" + "".join(f"{v:>14}" for v in values), flush=True)

    def each(fn) -> list[str]:
        return [fn(sides[n]) for n in names]

    row("up from no machines, Ready 1+2 (goal 120 s)", each(lambda f: f"{f['ready']:.1f} s"))
    row("up from no machines, verified stack (240 s)", each(lambda f: f"{f['up']:.1f} s"))
    row("no-op up (goal 30 s)", each(lambda f: f"{f['noop']:.1f} s"))
    row("  most tasks changed on a host (goal 0)", each(lambda f: str(f["noop_changed"])))
    row("  every playbook run (up --full)", each(lambda f: f"{f['noop_full']:.1f} s"))
    row("    most tasks changed on a host (goal 0)", each(lambda f: str(f["noop_full_changed"])))
    row(
        "    the same through Mitogen ([fast] extra)",
        each(lambda f: f"{f['noop_mitogen']:.1f} s" if "noop_mitogen" in f else "-"),
    )
    row("node replace w1 (goal 90 s)", each(lambda f: f"{f['replace_w1']:.1f} s"))
    for phase in READY:
        row(
            f"  {phase}: 3 nodes / 1 node (goal <= 1.3x)",
            each(
                lambda f, p=phase: (
                    f"{f['phases'].get(p, 0):.0f}/{f['one_node'].get(p, 0):.0f}"
                    f" {f['phases'].get(p, 0) / max(f['one_node'].get(p, 0), 0.1):.2f}x"
                )
            ),
        )
    for name in names:
        print(f"\n{name}: phases of up from no machines:")
        print("  " + ", ".join(f"{p} {s:.1f}s" for p, s in sides[name]["phases"].items()))
        print(f"{name}: slowest tasks per phase (first up):")
        for phase, tasks in sides[name]["profile"].items():
            print(f"  {phase:14} " + "; ".join(f"{t} {s:.1f}s" for t, s in tasks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REF", help="measure this git ref first")
    args = parser.parse_args()
    sides: dict[str, dict] = {}
    if args.against:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), args.against],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            try:
                sides[args.against] = measure(tree)
            finally:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
                )
    sides["this tree"] = measure(ROOT)
    report(sides)


if __name__ == "__main__":
    main()
