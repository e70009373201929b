"""The e2e suite's labs, never the user's: one lab made from the default lab's config
for the whole session (test_up.py makes it with `rebuild`; the
operations, backup and restore tests, and the ops tier's test_node_changes.py, make
it with `up` when they run without it), and the cri-dockerd lab, made and destroyed
by test_cri_docker.py (ops tier). Both are destroyed when the session ends."""

import pytest

from tests.conftest import SuiteLab, inventory_hosts, provision, suite_lab_fixture

LAB = SuiteLab("t-e2e", "lab", 61)
CRI = SuiteLab("t-cri", "lab-cri-docker", 62)
suite_lab = suite_lab_fixture(LAB)


@pytest.fixture(scope="session")
def cri_lab_config():
    """The cri-dockerd lab's config; its lab is destroyed at the end of the session."""
    path = CRI.write()
    yield path
    provision("destroy", "-i", str(path), "--yes", check=False)


@pytest.fixture(scope="module")
def running_lab():
    """The suite's lab with its whole stack: `up` makes it, or finds it converged."""
    provision("up")
    return inventory_hosts()
