"""`provision halt`: stop the lab's machines and keep everything: machines, disks and
volumes, the state directory. `provision up` on a halted lab resumes it: the
machines start again with the same addresses, playbooks that converged are skipped,
the lab settles (verify/settle.py) and verify runs."""

from __future__ import annotations

import time

from provision.config.model import ClusterConfig
from provision.errors import UsageError
from provision.machines.base import HALTED
from provision.phase_state import PhaseState
from provision.phases import PHASE_NAMES
from provision.project import Inventory, cli_for
from provision.runlog import RunLog


# Each node, before its machine stops: the kubelet first (nothing is started again
# while the node goes down), then the API server, which keeps no state of its own
# (etcd does): asked to stop, then killed after 10 s. Left to the node's shutdown,
# it outlived SIGTERM for the whole stop timeout (measured: 90 s on a container
# node, then the container was killed with everything in it).
def stop_node(sh) -> None:
    """The kubelet stopped, then the API server (SIGTERM, SIGKILL after 10 s)."""
    sh(["systemctl", "stop", "kubelet"], check=False, timeout=60)
    sh(["pkill", "-TERM", "-x", "kube-apiserver"], check=False, timeout=30)
    for _ in range(10):
        if not sh(["pgrep", "-x", "kube-apiserver"], check=False, timeout=30).strip():
            return
        time.sleep(1)
    sh(["pkill", "-KILL", "-x", "kube-apiserver"], check=False, timeout=30)


def quiesce(inv: Inventory, config: ClusterConfig, nodes: list[str], log: RunLog) -> None:
    """Stop the kubelet and the API server on each running node, side by side; a node
    that cannot be reached is halted as it is."""
    from concurrent.futures import ThreadPoolExecutor

    from provision.errors import ProvisionError
    from provision.remote import shells

    if not inv.hosts_file.exists() or not nodes:
        return

    def one(item) -> str:
        name, sh = item
        try:
            stop_node(sh)
        except ProvisionError as e:
            return f"{name}: {str(e).splitlines()[0]}"
        return ""

    try:
        with shells(inv, {n: n for n in nodes}) as sh, ThreadPoolExecutor(len(nodes)) as pool:
            problems = [p for p in pool.map(one, sh.items()) if p]
    except ProvisionError as e:
        problems = [str(e).splitlines()[0]]
    for p in problems:
        log.say(f"halt: {p}: halted without stopping its kubelet first", style="yellow")
    log.say(f"halt: kubelet and API server stopped on {', '.join(nodes)}")


def halt_lab(inv: Inventory, config: ClusterConfig, log: RunLog) -> list[str]:
    """Stop every running machine of a whole lab; the names stopped. A lab with no
    machines, or only some of them, is refused before anything changes."""
    from provision.machines.factory import machines_for

    machines = machines_for(inv, config, log)
    if machines.existing:
        return machines.halt()  # refuses: existing hosts are not provision's to stop
    states = {m.name: m.state for m in machines.status()}
    name = config.cluster.name
    missing = [n for n, s in states.items() if s == "not_created"]
    if len(missing) == len(states):
        raise UsageError(
            f"cluster {name} has no machines: nothing to halt\n"
            f"  fix: `provision up{cli_for(inv.name)}` makes the lab"
        )
    if missing:
        raise UsageError(
            f"cluster {name} is half made ({', '.join(missing)} not created): nothing was "
            f"stopped\n  fix: `provision up{cli_for(inv.name)}` finishes it, or "
            f"`provision destroy{cli_for(inv.name)}` removes it"
        )
    odd = {n: s for n, s in states.items() if s != "running" and s not in HALTED}
    if odd:
        shown = ", ".join(f"{n} is {s}" for n, s in odd.items())
        raise UsageError(
            f"cluster {name}: {shown}: nothing was stopped\n"
            f"  fix: see `provision status{cli_for(inv.name)}`; `provision up` brings "
            "every machine back to running"
        )
    if not any(s == "running" for s in states.values()):
        log.say(f"cluster {name} is already halted ({', '.join(states)} stopped)")
        return []
    started = time.monotonic()
    quiesce(inv, config, [n for n, s in states.items() if s == "running"], log)
    stopped = machines.halt()
    log.say(
        f"halted {', '.join(stopped)} in {time.monotonic() - started:.1f} s: machines, "
        f"volumes and state kept; `provision up{cli_for(inv.name)}` resumes the lab",
        style="bold green",
    )
    point = PhaseState.load(inv.state_dir, inv.cluster_file).resume_point(PHASE_NAMES)
    if point:
        log.say(f"the last up stopped before phase {point}: `provision up` resumes there")
    return stopped
