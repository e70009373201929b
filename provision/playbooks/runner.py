"""Run one playbook with ansible-runner: progress per task and host, a typed
result, and every event kept under the run directory.

Secrets never reach these files: tasks that handle them are no_log, and the
extra vars passed here carry no secret (roles read secrets from files on disk).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from provision.config.model import ClusterConfig
from provision.errors import NodeStepFailed, UsageError
from provision.files import write_state
from provision.playbooks.result import (
    Failure,
    PlaybookResult,
    failure_message,
    stats_from_event,
)
from provision.project import Inventory
from provision.runlog import RunLog


class PlaybookFailed(NodeStepFailed):
    """A playbook that did not succeed; carries its typed result."""

    def __init__(self, result: PlaybookResult):
        self.result = result
        lines = [f"playbook {result.playbook} {result.status} (rc {result.rc})"]
        for f in result.failures:
            lines.append(f"  host {f.host}, task '{f.task}':")
            lines.extend(f"    {line}" for line in f.message.splitlines()[-12:])
        lines.append(f"  events and output: {result.artifacts}")
        super().__init__("\n".join(lines))


DEBUG_ACTIONS = ("ansible.builtin.debug", "debug")

# PROVISION_ANSIBLE_STRATEGY=mitogen: Ansible runs its modules through Mitogen
# (`pip install -e .[fast]`), one Python interpreter kept per host instead of one
# per task. Measured on the default lab: a no-op `up` 95 s -> 61 s. Opt-in: the
# default (linear) is the one every suite runs.
STRATEGY_ENV = "PROVISION_ANSIBLE_STRATEGY"
STRATEGIES = ("linear", "mitogen")


def strategy_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """ANSIBLE_* settings for the strategy chosen by PROVISION_ANSIBLE_STRATEGY."""
    chosen = (os.environ if environ is None else environ).get(STRATEGY_ENV, "linear")
    if chosen not in STRATEGIES:
        raise UsageError(
            f"{STRATEGY_ENV}={chosen!r} is not a strategy provision knows\n"
            f"  fix: set it to one of {', '.join(STRATEGIES)}, or unset it"
        )
    if chosen == "linear":
        return {}
    try:
        import ansible_mitogen
    except ImportError as e:
        raise UsageError(
            f"{STRATEGY_ENV}=mitogen needs Mitogen in provision's environment\n"
            "  fix: pip install -e '.[fast]' (or unset the variable)"
        ) from e
    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


class Progress:
    """Turns runner events into short lines: task start, per-host outcome."""

    def __init__(self, log: RunLog, result: PlaybookResult):
        self.log = log
        self.result = result
        self.last_task = ""

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host", "")
        task = data.get("task", "")
        if kind == "playbook_on_task_start" and task != self.last_task:
            self.last_task = task
            self.log.say(f"  task: {task}", style="dim")
        elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
            took = float(data.get("duration") or 0)
            self.result.task_seconds[task] = max(self.result.task_seconds.get(task, 0), took)
            res = data.get("res") or {}
            if kind == "runner_on_ok":
                if res.get("changed"):
                    self.log.write(f"    {host}: changed ({took:.1f}s)")
                if data.get("task_action") in DEBUG_ACTIONS and res.get("msg"):
                    self.log.say(f"    {host}: {res['msg']}")  # a role's report to the user
            elif kind == "runner_on_unreachable" or not data.get("ignore_errors"):
                message = failure_message(res)
                self.result.failures.append(Failure(host, task, message))
                self.log.say(
                    f"    {host}: FAILED: {message.splitlines()[0] if message else ''}", style="red"
                )
        elif kind == "playbook_on_stats":
            self.result.hosts = stats_from_event(data)
        return True


def run_playbook(
    root: Path,
    inventory: Path,
    playbook: str,
    log: RunLog,
    extravars: dict | None = None,
    limit: str | None = None,
    fact_cache: Path | None = None,
) -> PlaybookResult:
    """Run playbooks/<playbook>; raise PlaybookFailed unless it succeeded."""
    import ansible_runner

    private = log.dir / f"ansible-{Path(playbook).stem}"
    private.mkdir(parents=True, exist_ok=True)
    result = PlaybookResult(playbook, "running", -1, artifacts=str(private))
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(root / "playbooks" / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_FORCE_COLOR": "0",
        # SSH's connect and sudo's prompt: Ansible's 10 s, times wait_scale (an emulated
        # control plane under load took longer than 12 s to show sudo's prompt)
        "ANSIBLE_TIMEOUT": str(10 * int((extravars or {}).get("wait_scale", 1))),
        **strategy_env(),
    }
    log.say(f"  playbook {playbook}" + (f" (limit {limit})" if limit else ""))
    # Ctrl-C or SIGTERM: KeyboardInterrupt leaves ansible-runner here, and
    # cli/interrupts.py stops ansible-playbook (in a session of its own) with SIGINT.
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(root / "playbooks"),
        playbook=playbook,
        inventory=str(inventory.resolve()),
        envvars=env,
        extravars=extravars or {},
        limit=limit,
        quiet=True,
        event_handler=Progress(log, result),
        settings={"pexpect_timeout": 0.5, "suppress_ansible_output": True},
        # ansible-runner sets the cache's path itself (an absolute one is kept);
        # the default is a cache of this playbook's own.
        **({"fact_cache": str(fact_cache), "fact_cache_type": "jsonfile"} if fact_cache else {}),
    )
    result.status = runner.status
    result.rc = runner.rc
    if runner.status == "canceled":
        # ansible-runner ends its run on the KeyboardInterrupt that Ctrl-C or SIGTERM
        # raised (cli/interrupts.py) and returns: the command was interrupted
        log.say(f"  {playbook}: interrupted", style="yellow")
        raise KeyboardInterrupt
    log.say(
        f"  {playbook}: {runner.status}; {result.summary()}", style="green" if result.ok else "red"
    )
    if not result.ok:
        if not result.failures:
            result.failures.append(Failure("-", "-", _tail(runner)))
        raise PlaybookFailed(result)
    return result


def _tail(runner) -> str:
    try:
        return "\n".join(runner.stdout.read().splitlines()[-15:])
    except (AttributeError, OSError):
        return f"see {runner.config.artifact_dir}"


class Playbooks:
    """The one way anything runs Ansible on a lab: a named playbook of this project,
    on all hosts or some, with the config's variables, on the generated inventory;
    every result is kept in the run's playbooks.json. `up`, node operations and
    later commands share it."""

    def __init__(self, inv: Inventory, config: ClusterConfig, log: RunLog):
        self.inv = inv
        self.config = config
        self.log = log
        self.results: list[PlaybookResult] = []

    def run(
        self, name: str, hosts: Sequence[str] = (), extra: dict | None = None
    ) -> PlaybookResult:
        """Run playbooks/<name> on hosts (all when empty); PlaybookFailed unless it
        succeeded."""
        inventory = self.inventory()
        result = run_playbook(
            self.inv.root,
            inventory,
            name,
            self.log,
            extravars=self.extravars(extra),
            limit=",".join(hosts) or None,
            # Facts are gathered once per host per run, by its first playbook, and
            # read from this cache by the later ones (gathering = smart): a run
            # never reuses another's, so a machine made again is seen afresh.
            fact_cache=self.log.dir / "facts",
        )
        return self.record(result)

    def inventory(self) -> Path:
        inventory = self.inv.hosts_file
        if not inventory.exists():
            raise UsageError(
                f"no generated inventory at {inventory}\n"
                "  fix: run `provision up --only machines` first"
            )
        return inventory

    def extravars(self, extra: dict | None) -> dict:
        from provision.playbooks.variables import playbook_vars

        return {**playbook_vars(self.config), **(extra or {})}

    def digest(self, name: str, extra: dict | None = None) -> str:
        """What a run of playbooks/<name> on every host depends on (converged.py)."""
        from provision.playbooks.converged import inputs_digest

        return inputs_digest(self.inv.root, name, self.extravars(extra), self.inventory())

    def converged(self, name: str, hosts: Sequence[str]) -> PlaybookResult:
        """Record playbooks/<name> as not run: it had converged on `hosts`."""
        from provision.playbooks.result import HostStats

        self.log.say(
            f"  playbook {name}: converged on every node, not run (`up --full` runs it)",
            style="green",
        )
        return self.record(PlaybookResult(name, "converged", 0, {h: HostStats() for h in hosts}))

    def record(self, result: PlaybookResult) -> PlaybookResult:
        self.results.append(result)
        write_state(
            self.log.dir / "playbooks.json",
            json.dumps([r.as_dict() for r in self.results], indent=2) + "\n",
        )
        return result
