"""What every kind of machines offers the rest of the flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from provision.inventory import SshEndpoint


@dataclass(frozen=True)
class MachineState:
    name: str
    state: str  # running, stopped, not_created, unreachable, ...
    provider: str
    node_ip: str
    ssh: str  # host:port, or "" when unknown


class Machines(Protocol):
    provider: str

    def up(self) -> None: ...

    def status(self) -> list[MachineState]: ...

    def endpoints(self) -> dict[str, SshEndpoint]: ...

    def known_hosts(self, endpoints: dict[str, SshEndpoint]) -> str: ...

    def destroy(self) -> None: ...
