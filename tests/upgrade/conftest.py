"""The upgrade suite's lab (t-up), never the user's: the default lab's config pinned
to the earlier Kubernetes release the bundle holds (`bundle build --also`), made by
the first test and upgraded; destroyed when the session ends."""

from tests.conftest import SuiteLab, suite_lab_fixture

FROM, TO = "1.34.4", "1.35.4"
LAB = SuiteLab("t-up", "lab", 65, overrides=(("versions.kubernetes", FROM),))
suite_lab = suite_lab_fixture(LAB)
