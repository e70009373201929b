"""addons: the add-ons' manifests rendered, then playbooks/addons.yml deploys them
(provision/addons/deploy.py)."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.phases.base import Context, Phase


class Addons(Phase):
    name = "addons"
    summary = "NFS storage, MySQL, RabbitMQ, Zipkin, ELK"
    playbook = "addons.yml"

    def changes(self, config: ClusterConfig, provider: str) -> str:
        return "deploys " + (", ".join(config.addons.enabled()) or "nothing (all disabled)")

    def run(self, up: Context) -> None:
        from provision.addons.deploy import AddonsPhase

        AddonsPhase(up.inv, up.config, up.log, up.playbook).run()
