"""One folder per add-on, one list: every folder in provision/addons/ that holds an
add-on is in the registry, holds a template per part, and the registry agrees
with the config model's add-ons, parts and image components."""

from __future__ import annotations

from pathlib import Path

from provision.addons.registry import ADDONS, addon_of, upstream_images
from provision.config.model import ADDONS as CONFIG_ADDONS
from provision.config.model import IMAGE_COMPONENTS, PARTS, ClusterConfig, addon_of_part

FOLDER = Path(__file__).resolve().parents[2] / "provision" / "addons"


def test_every_addon_folder_is_registered_and_every_addon_has_its_folder():
    folders = {p.parent.name for p in FOLDER.glob("*/__init__.py")}
    assert folders == {a.name for a in ADDONS}
    for a in ADDONS:
        assert a.package == f"provision.addons.{a.name}"


def test_the_registry_is_the_config_models_list_in_apply_order():
    assert sorted(a.name for a in ADDONS) == sorted(CONFIG_ADDONS)
    assert tuple(p for a in ADDONS for p in a.parts) == PARTS
    for part in PARTS:
        assert addon_of(part).name == addon_of_part(part)


def test_each_part_has_its_template_in_its_folder():
    for a in ADDONS:
        assert {p.name for p in (FOLDER / a.name).glob("*.yaml.j2")} == {
            f"{part}.yaml.j2" for part in a.parts
        }


def test_each_upstream_image_is_a_component_the_config_can_replace():
    # rsyslog has no upstream image: the bundle builds it (addons.images.rsyslog)
    assert set(upstream_images()) == set(IMAGE_COMPONENTS) - {"rsyslog"}


def test_each_data_part_names_a_script_of_its_folder_and_a_claim_of_its_addon(lab):
    config = ClusterConfig.model_validate(lab)
    for a in ADDONS:
        claims = {c for c, _ in a.claims(config)}
        for d in a.data:
            assert (FOLDER / a.name / d.load).is_file()
            assert d.claim in claims
            assert d.path.startswith(f"{a.name}/")
    # in the order a restore loads them
    assert [d.path for a in ADDONS for d in a.data] == [
        "mysql/dump.sql",
        "rabbitmq/definitions.json",
    ]


def test_each_built_image_is_a_component_with_its_entry_script_in_its_folder():
    """The images `bundle build` makes are declared in their add-ons' folders; every
    component they serve is one the config can set, once, and the default lab's
    addons.images names exactly their references."""
    import yaml

    from provision.addons.registry import image_recipes
    from provision.bundle.addon_images import REPOSITORY

    recipes = image_recipes()
    components = [r.component for r in recipes]
    assert len(components) == len(set(components)) and set(components) <= set(IMAGE_COMPONENTS)
    for a in ADDONS:
        for r in a.built_images:
            assert r.package == a.package
            assert (FOLDER / a.name / r.entry).is_file()
            assert r.script().startswith(b"#!")
    lab = yaml.safe_load((FOLDER.parents[1] / "inventories" / "lab" / "cluster.yml").read_text())
    zipkin = lab["versions"]["zipkin"]
    ours = {c: ref for c, ref in lab["addons"]["images"].items() if ref.startswith(REPOSITORY)}
    assert ours == {r.component: r.ref(zipkin) for r in recipes}


def test_an_image_of_ours_that_no_addon_makes_is_refused(tmp_path):
    import pytest

    from provision.addons.registry import image_recipes
    from provision.bundle.addon_images import AddonImages
    from provision.errors import BundleError

    class Bases:
        background = None

    wanted = {"kibana": "provision.local/addons/kibana:1"}
    with pytest.raises(BundleError, match=r"addons.images.kibana .* no add-on makes"):
        AddonImages(tmp_path, None, None, "3.5.1", wanted, Bases(), image_recipes())
