"""The addons phase: render the manifests and credentials into the lab's state
directory, then run playbooks/addons.yml, which prepares the nodes (local volume
directories, add-on images from the bundle, vm.max_map_count), creates the
deployed add-ons, validates the validate_only ones with a server-side dry run and
waits until every created add-on is ready. Ends by printing where to reach them.
"""

from __future__ import annotations

from collections.abc import Callable

from provision.addons.manifests import (
    NAMESPACE,
    local_volumes,
    nfs_volumes,
    part_of,
    render_manifests,
    render_secrets,
)
from provision.addons.registry import addon_of
from provision.addons.secrets import ensure_secrets, secrets_file, write_private
from provision.addons.values import NODE_PORTS, web_urls
from provision.config.model import ClusterConfig
from provision.files import private_dir, write_state
from provision.project import Inventory, cli_for
from provision.runlog import RunLog
from provision.sources import resolve_sources


def workload(config: ClusterConfig, part: str) -> str | None:
    """What `rollout status` waits for of a deployed part (None: it runs no pod, as
    the NFS add-on with static volumes), as its add-on says."""
    return addon_of(part).workload(config, part)


def workloads(config: ClusterConfig) -> list[str]:
    """What `rollout status` waits for, of every deployed part that runs pods."""
    found = (workload(config, p) for p in config.addons.deployed())
    return [w for w in found if w is not None]


def bundle_addon_images(config: ClusterConfig) -> dict[str, str]:
    """{image ref: tar path in the bundle} for the images the deployed add-ons run
    that the bundle holds (built by `provision bundle build` for addons.images)."""
    sources = resolve_sources(config)
    if sources.artifacts != "bundle":
        return {}
    from provision.bundle.addon_images import KIND
    from provision.bundle.manifest import read_manifest

    wanted = set(config.addons.images.values())
    return {
        a.name: a.path
        for a in read_manifest(sources.bundle_dir, config.versions.kubernetes)
        if a.kind == KIND and a.name in wanted
    }


class AddonsPhase:
    def __init__(
        self,
        inv: Inventory,
        config: ClusterConfig,
        log: RunLog,
        playbook: Callable[[str, dict], object],
    ):
        self.inv = inv
        self.config = config
        self.log = log
        self.playbook = playbook

    def run(self) -> None:
        a = self.config.addons
        if not a.enabled():
            self.log.say("addons: none enabled in the config")
            return
        out = private_dir(self.inv.addons_dir, "the add-on manifests' directory")
        files = render_manifests(self.config, str(self.inv.cluster_file))
        for name, text in files.items():
            write_state(out / name, text)
        secrets = ensure_secrets(self.config, self.inv.state_dir)
        secret_manifest = write_private(out / "secrets.yaml", render_secrets(self.config, secrets))
        deployed = a.deployed()
        deploy = [n for n in files if part_of(n) is None or part_of(n) in deployed]
        validate = [n for n in files if n not in deploy]
        images = bundle_addon_images(self.config)
        pulled = sorted(set(a.images.values()) - set(images))
        # the shipper is a DaemonSet: its image goes to every node, the others to the workers
        shipper = a.images.get(a.elk.shipper) if "shipper" in deployed else None
        self.log.say(
            f"addons: creating {', '.join(deployed) or 'none'}; validating only "
            f"{', '.join(a.validated_only()) or 'none'}; manifests in {out}"
        )
        if pulled:
            self.log.say(f"addons: not in the bundle, the nodes pull: {', '.join(pulled)}")
        self.playbook(
            "addons.yml",
            {
                "addons_deployed": deployed,
                "addons_manifest_dir": str(out),
                "addons_files_deploy": deploy,
                "addons_files_validate": validate,
                "addons_secrets_file": str(secret_manifest),
                "addons_workloads": workloads(self.config),
                "addons_local_volumes": [
                    {"node": v.node, "path": v.path} for v in local_volumes(self.config)
                ]
                if a.volumes == "local"
                else [],
                "addons_images": {r: t for r, t in images.items() if r != shipper},
                "addons_images_every_node": {r: t for r, t in images.items() if r == shipper},
                "addons_nfs": {
                    "enabled": a.nfs.enabled,
                    "server_node": self.config.nfs_server,
                    "export_path": a.nfs.export_path,
                    "clients": str(self.config.network.node_subnet),
                    # static volumes: the directories to make on the export
                    "volumes": [v.path for v in nfs_volumes(self.config)],
                },
            },
        )
        self.report(deployed)

    def report(self, deployed: list[str]) -> None:
        host = self.config.control_plane.ip
        web = web_urls(str(host))
        urls = {
            "kibana": web["kibana"],
            "elasticsearch": "elasticsearch.addons.svc:9200 inside the cluster",
            "rabbitmq": (
                f"amqp://{host}:{NODE_PORTS['rabbitmq_amqp']}/, management {web['rabbitmq']}"
            ),
            "zipkin": web["zipkin"],
            "mysql": "mysql.addons.svc:3306 inside the cluster "
            f"(provision kubectl{cli_for(self.inv.name)} -- -n {NAMESPACE} exec -it mysql-0 -- "
            "mysql -uroot -p)",
        }
        for name in deployed:
            if name in urls:
                label = {"rabbitmq": "RabbitMQ", "mysql": "MySQL"}.get(name, name.capitalize())
                self.log.say(f"  {label + ':':14} {urls[name]}")
        self.log.say(
            f"  credentials: {secrets_file(self.inv.state_dir)} (0600; keys mysql-*, rabbitmq-*)"
        )
