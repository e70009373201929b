"""Keep the host from sending packets to the lab's pod and service ranges.

The host's default route leaves the machine, so a stray packet to a pod or
service address would too. With the docker provider (nodes on this host) we add
blackhole routes for those ranges while the lab exists; kubectl, curl and probes
run inside the nodes instead.
"""

from __future__ import annotations

import shutil
import subprocess

from provision.config.model import ClusterConfig


def lab_ranges(config: ClusterConfig) -> list[str]:
    return [str(config.network.pod_cidr), str(config.network.service_cidr)]


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def add_blackholes(config: ClusterConfig, say) -> None:
    if shutil.which("ip") is None:
        return
    for cidr in lab_ranges(config):
        if _ip("route", "replace", "blackhole", cidr).returncode == 0:
            say(
                f"machines: host route {cidr} -> blackhole (the host never sends to the lab's "
                "pod or service range)"
            )
        else:
            say(f"machines: could not add a blackhole route for {cidr} (not root?)")


def remove_blackholes(config: ClusterConfig) -> None:
    if shutil.which("ip") is None:
        return
    for cidr in lab_ranges(config):
        _ip("route", "del", "blackhole", cidr)
