"""The VM suite's own lab: inventories/lab-libvirt's config under a name, network
and state of its own, destroyed when the session ends."""

from tests.conftest import SuiteLab, suite_lab_fixture

LAB = SuiteLab("t-vm", "lab-libvirt", 63)
LAB.write()  # the test module reads its config and state dir at import
suite_lab = suite_lab_fixture(LAB)
