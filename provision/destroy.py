"""Remove a lab: its machines (never existing SSH hosts), the generated inventory and
what the lab kept in its state directory. Run logs and reports stay."""

from __future__ import annotations

import shutil

from provision.config.model import ClusterConfig
from provision.project import Inventory
from provision.runlog import RunLog

# What a lab leaves in its state dir besides run logs: gone with the machines.
LEFTOVERS = (
    "vagrant",
    "machines.json",
    "known_hosts",
    "phases.json",
    "kubeconfig",
    "kubeadm-config.yaml",
    "calico.yaml",
    "addons",
    "secrets",
    # an unfinished restore or control-plane remake: the lab it was putting back is
    # gone, so there is nothing left to resume (a stale record would refuse the next
    # lab's restore, as a rebuild --restore-drill found in CI)
    "operation.json",
)


def destroy_lab(inv: Inventory, config: ClusterConfig, log: RunLog) -> None:
    from provision.machines.factory import machines_for

    machines_for(inv, config, log).destroy()
    inv.hosts_file.unlink(missing_ok=True)
    inv.release_state()
    for leftover in LEFTOVERS:
        path = inv.state_dir / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
