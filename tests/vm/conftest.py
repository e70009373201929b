"""The VM suites' own labs, from inventories/lab-libvirt's config under names,
networks and state of their own, destroyed when the session ends: `t-vm`, its
control plane alone (CI's libvirt suite: machines and prepare), and `t-vmc`, the
whole lab (tox -e vm-cluster: every phase on two VMs)."""

from tests.conftest import SuiteLab, suite_lab_fixture

# Machines and prepare need no bundle: the box without one baked in (its Kubernetes
# binaries and its 11 images imported into containerd at build time) is
# what CI makes; tox -e vm-cluster makes and runs the baked box.
LAB = SuiteLab(
    "t-vm", "lab-libvirt", 63, nodes=("cp1",), overrides=(("artifacts.source", "online"),)
)
LAB.write()  # the test module reads its config and state dir at import
CLUSTER_LAB = SuiteLab("t-vmc", "lab-libvirt", 64)
suite_lab = suite_lab_fixture(LAB)
