"""verify: prove every part does its job (provision/verify/), after waiting for
what machines started again this run (a halted lab, a restarted engine) ran
before they stopped."""

from __future__ import annotations

from provision.config.model import ClusterConfig
from provision.phases.base import Context, Phase


class Verify(Phase):
    name = "verify"
    summary = "prove every part does its job"

    def changes(self, config: ClusterConfig, provider: str) -> str:
        return "changes nothing: runs checks inside the nodes"

    def run(self, up: Context) -> None:
        from provision.verify.run import Verify as Checks

        if up.restarted:
            self.settle(up)
        up.verify_results = Checks(up.inv, up.config, up.log).run()

    @staticmethod
    def settle(up: Context) -> None:
        """Wait for what the restarted machines ran before they stopped."""
        from provision.remote import control_plane_shell
        from provision.verify.settle import NotSettled, settle_lab

        up.log.say(f"settle: waiting for {', '.join(up.restarted)} to come back")
        with control_plane_shell(up.inv, up.config, error=NotSettled) as sh:
            settle_lab(
                sh["control-plane"],
                up.config,
                up.restarted,
                # a second's slack: the API records times in whole seconds
                up.restarted_at - 1,
                up.log.say,
                provider=up.machines.provider,
            )
