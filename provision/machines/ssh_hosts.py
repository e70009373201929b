"""Existing machines, reached over SSH with pinned host keys.

Nothing here creates or destroys a machine: `up` proves each host is reachable
with the key the config names and a host key found in the config's known_hosts
(never auto-accepted); `destroy` only forgets the generated inventory.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.errors import ProvisionError
from provision.inventory import SshEndpoint, static_endpoints
from provision.machines.base import MachineState
from provision.runlog import RunLog


class UnreachableHost(ProvisionError):
    exit_code = 4


def connect(ep: SshEndpoint, known_hosts: Path, timeout: float = 15):
    """A fabric Connection that refuses unknown host keys."""
    import paramiko
    from fabric import Connection

    conn = Connection(
        ep.host,
        user=ep.user,
        port=ep.port,
        connect_timeout=timeout,
        connect_kwargs={
            "key_filename": [ep.private_key],
            "look_for_keys": False,
            "allow_agent": False,
        },
    )
    conn.client.load_host_keys(str(known_hosts))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return conn


class SshHosts:
    provider = "ssh"

    def __init__(self, config: ClusterConfig, base_dir: Path, log: RunLog):
        self.config = config
        self.log = log
        assert config.machines.ssh is not None  # the config checks ensure it
        self.access = config.machines.ssh
        self.base_dir = base_dir

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def endpoints(self) -> dict[str, SshEndpoint]:
        key = str(self._path(self.access.private_key))
        return {
            name: SshEndpoint(ep.host, ep.port, ep.user, key)
            for name, ep in static_endpoints(self.config).items()
        }

    def _probe(self, item: tuple[str, SshEndpoint]) -> tuple[str, str]:
        name, ep = item
        try:
            with connect(ep, self._path(self.access.known_hosts)) as conn:
                conn.run("true", hide=True, in_stream=False, timeout=15)
            return name, "running"
        except Exception as e:  # paramiko and socket errors alike
            self.log.write(f"{name}: {type(e).__name__}: {e}")
            return name, f"unreachable ({type(e).__name__}: {e})"

    def up(self) -> None:
        states = dict(self._probe_all())
        bad = {n: s for n, s in states.items() if s != "running"}
        if bad:
            lines = "\n".join(f"  {n}: {s}" for n, s in bad.items())
            raise UnreachableHost(
                f"existing hosts not reachable with pinned host keys:\n{lines}\n"
                f"  fix: check address, user and key in the config, and add each host's key to "
                f"{self.access.known_hosts} (e.g. ssh-keyscan, checked against the host's console)"
            )
        self.log.say(f"machines: {len(states)} existing hosts reachable over SSH")

    def _probe_all(self) -> list[tuple[str, str]]:
        endpoints = self.endpoints()
        with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
            return list(pool.map(self._probe, endpoints.items()))

    def status(self) -> list[MachineState]:
        states = dict(self._probe_all())
        eps = self.endpoints()
        return [
            MachineState(
                n.name, states[n.name], "ssh", str(n.ip), f"{eps[n.name].host}:{eps[n.name].port}"
            )
            for n in self.config.nodes
        ]

    def known_hosts(self, endpoints: dict[str, SshEndpoint]) -> str:
        return self._path(self.access.known_hosts).read_text()

    def destroy_one(self, name: str) -> None:
        self.log.say(f"machines: {name} is an existing host; it is not destroyed")

    def destroy(self) -> None:
        self.log.say("machines: existing hosts are not destroyed; forgetting the inventory only")
