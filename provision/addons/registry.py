"""The add-ons, in apply order: the one list. Adding an add-on is a folder beside
the others (an `Addon` in its __init__.py, its manifest templates, its checks and
data scripts) and a line here; its settings are a section of the config model
(provision/config/model.py: `addons.<name>`, its parts in PARTS), which
tests/unit/test_addon_registry.py holds against this list."""

from __future__ import annotations

from provision.addons import elk, mysql, nfs, rabbitmq, zipkin
from provision.addons.base import Addon
from provision.bundle.addon_images import ImageRecipe

ADDONS: tuple[Addon, ...] = (nfs.ADDON, mysql.ADDON, rabbitmq.ADDON, zipkin.ADDON, elk.ADDON)


def addon_of(part: str) -> Addon:
    """The add-on a manifest part belongs to."""
    return next(a for a in ADDONS if part in a.parts)


def upstream_images() -> dict[str, tuple[str, str]]:
    """component -> (repository, tag format) of every add-on's upstream image."""
    return {c: spec for a in ADDONS for c, spec in a.images.items()}


def image_recipes() -> tuple[ImageRecipe, ...]:
    """What `provision bundle build` makes for labs no registry serves, in build order."""
    return tuple(r for a in ADDONS for r in a.built_images)


def node_ports() -> dict[str, int]:
    return {name: port for a in ADDONS for name, port in a.node_ports.items()}


def by_name(name: str) -> Addon:
    return next(a for a in ADDONS if a.name == name)
