"""Pick the machines implementation a config asks for."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.files import read_json, refuse
from provision.machines.base import Machines
from provision.machines.provider import resolve_provider
from provision.machines.providers import PROVIDERS, provider_class
from provision.project import Inventory
from provision.runlog import RunLog


def recorded_provider(inv: Inventory) -> str | None:
    """The provider the lab's machines were made with, if any were."""
    from provision.machines.vagrant import SPEC, spec_fix

    path = inv.state_dir / "machines.json"
    data = read_json(path, SPEC, fix=spec_fix(path))
    if data is None or "provider" not in data:
        return None
    if not isinstance(data["provider"], str) or data["provider"] not in PROVIDERS:
        problem = f"its provider is none of {', '.join(PROVIDERS)}"
        raise refuse(path, SPEC, problem, spec_fix(path))
    return data["provider"]


def machines_for(
    inv: Inventory, config: ClusterConfig, log: RunLog, provider: str | None = None
) -> Machines:
    """The lab's machines: the provider machines.json records (the machines were
    made with it), else the one the config chooses on this host."""
    provider = provider or recorded_provider(inv) or resolve_provider(config)
    return provider_class(provider).for_lab(inv, config, log)
