"""`provision schedule`: a systemd timer and service that rebuild a lab every day at
one time (`provision rebuild --wait`, its report under <state>/reports/), and what
`provision status` says about them.

Two unit files per lab, provision-rebuild-<state directory name>.service and .timer,
so two labs never share one. Each carries a header line naming the lab's state
directory (MARK): provision rewrites or removes only the files that carry its own
lab's line, and leaves any other file alone. The files are checked with
`systemd-analyze verify` before they are put in place, written whole and never
through a link (files.private_file), and read back. A systemd manager that answers
is asked to reload and to enable and start the timer; when none answers (a
container, CI, a shell outside the user's session) the files are still in place
and checked, and the result carries the exact commands to run where one does.

Every value written into a unit (paths, the URL) is quoted for systemd: `%` is a
specifier and `$` a variable there, so both are escaped; a path with a control
character or a backslash is refused rather than guessed at. The unit files are 0600:
the --notify URL (its path is often a webhook's token) is in the service's
Environment=, out of the process list; a system manager still shows a unit's
Environment= to local users (`systemctl show`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from provision.errors import HostError, OSFailure, ProvisionError, UsageError
from provision.files import private_file, read_small
from provision.project import Inventory, resolve_inventory, xdg_dir
from provision.report.notify import check_url
from provision.report.write import read_history

# The header line that makes a unit file this lab's: `MARK<state directory>`.
MARK = "# provision-lab: "
PREFIX = "provision-rebuild-"
# A rebuild takes minutes (about 3 without the drill on 2 cores); one still running
# after this is stuck, and is stopped so that the next night starts clean.
RUN_TIMEOUT = "3h"
# Spread over a few minutes, so that labs scheduled at the same time start apart.
RANDOM_DELAY = "5min"
RANDOM_DELAY_MINUTES = 5
# provision stops its children within 30 s of SIGTERM (cli/interrupts.py).
STOP_TIMEOUT = "2min"
# What a unit file of provision's may hold at most: a few kilobytes.
MAX_UNIT = 64 << 10
# What systemctl (a manager that answers) and systemd-analyze may take.
SYSTEMCTL_SECONDS = 60
STATUS_SECONDS = 5
# `systemctl is-system-running` prints one of these when a manager answers.
MANAGER_STATES = frozenset(
    {"initializing", "starting", "running", "degraded", "maintenance", "stopping"}
)
# Variables of the caller's environment that change what a rebuild does, passed on
# when set (the XDG directories, HOME and PATH are always written).
PASSED_ENV = ("DOCKER_HOST", "LIBVIRT_DEFAULT_URI", "VAGRANT_HOME", "VAGRANT_DEFAULT_PROVIDER")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_AT = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_ON_CALENDAR = re.compile(r"^OnCalendar=\*-\*-\* ([0-2][0-9]):([0-5][0-9]):00$", re.M)
# What an argument may hold to be written without quotes.
_PLAIN = re.compile(r"[A-Za-z0-9_./:=@+,-]+")


@dataclass(frozen=True)
class Schedule:
    """What runs and when: every day at hour:minute (the host's local time). The
    --notify URL goes to rebuild in the variable notify_env when rebuild reads one
    (kept out of the process list and `systemctl status`), else as --notify."""

    hour: int
    minute: int
    restore_drill: bool = False
    notify: str | None = None
    notify_env: str | None = None

    @property
    def at(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def parse_at(value: str) -> tuple[int, int]:
    """--at HH:MM, 00:00 to 23:59, as (hour, minute)."""
    found = _AT.fullmatch(value)
    if found is None:
        raise UsageError(
            f"--at {value!r}: not a time of day as HH:MM (00:00 to 23:59)\n"
            "  fix: give the hour (00-23) and the minute (00-59) with two digits each, "
            "e.g. --at 02:30"
        )
    return int(found[1]), int(found[2])


@dataclass(frozen=True)
class Scope:
    """Which systemd manager runs the units: the user's, or the system's (root)."""

    name: str  # "user" or "system"
    unit_dir: Path

    @property
    def flags(self) -> tuple[str, ...]:
        return ("--user",) if self.name == "user" else ()

    def systemctl(self, *args: str) -> list[str]:
        """A systemctl command line for this scope, as a user would type it."""
        return ["systemctl", *self.flags, *args]


def user_scope() -> Scope:
    """The user's manager: $XDG_CONFIG_HOME/systemd/user (default ~/.config/...)."""
    config = xdg_dir("XDG_CONFIG_HOME", Path.home() / ".config")
    return Scope("user", config / "systemd" / "user")


def system_scope() -> Scope:
    """The system's manager: /etc/systemd/system, written by root only."""
    return Scope("system", Path("/etc/systemd/system"))


def identity(inv: Inventory) -> str:
    """What the header line of this lab's units names: its state directory."""
    return str(inv.state_dir)


def unit_names(inv: Inventory) -> tuple[str, str]:
    """(service, timer) of this lab: provision-rebuild-<state directory name>, the
    characters a unit name cannot hold replaced by `_` (the name's hash part keeps
    two labs apart)."""
    stem = PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "_", inv.state_dir.name)[:200]
    return f"{stem}.service", f"{stem}.timer"


def provision_command() -> list[str]:
    """How the provision in use is started, absolute: the `provision` script this
    process was started as, else the one beside this Python (its venv's), else this
    Python with `-P -m provision` (-P: never the working directory's package)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "provision":
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found and os.path.isfile(found) and os.access(found, os.X_OK):
            return [str(Path(found).resolve())]
    beside = Path(sys.executable).absolute().with_name("provision")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [str(Path(sys.executable).absolute()), "-P", "-m", "provision"]


def _checked(value: str, what: str) -> str:
    """A value that can be written into a unit file as it is."""
    if any(not c.isprintable() for c in value) or "\\" in value or value != value.strip():
        raise UsageError(
            f"{what} {value!r} cannot be written into a systemd unit: it holds a control "
            "character, a backslash, or spaces at an end\n"
            "  fix: use a path (a checkout, an inventory, a venv) without them"
        )
    return value


def _specifiers(value: str) -> str:
    """`%` is a specifier in every unit setting: `%%` is one `%`."""
    return value.replace("%", "%%")


def _word(value: str, first: bool = False) -> str:
    """One word of ExecStart=: quoted unless plain; `$` is a variable in arguments
    (`$$` is one `$`), never in the executable's path."""
    value = _specifiers(value)
    if not first:
        value = value.replace("$", "$$")
    if _PLAIN.fullmatch(value):
        return value
    return _quoted(value)


def _quoted(value: str) -> str:
    """In double quotes, where `\\` and `\"` are escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _env_line(name: str, value: str) -> str:
    return "Environment=" + _quoted(_specifiers(f"{name}={value}"))


def rebuild_argv(inv: Inventory, schedule: Schedule, command: list[str]) -> list[str]:
    """What the service runs: rebuild this lab's cluster.yml (absolute), waiting for
    another command that holds the lab."""
    argv = [*command, "rebuild", "-i", str(inv.cluster_file), "--wait"]
    if schedule.restore_drill:
        argv.append("--restore-drill")
    if schedule.notify and not schedule.notify_env:
        argv += ["--notify", schedule.notify]
    return argv


def unit_environment(inv: Inventory, command: list[str]) -> dict[str, str]:
    """The variables the scheduled rebuild needs to find what an interactive one
    finds: this HOME and these XDG directories (the same state directory, bundle
    and cache), this checkout, the PATH of this shell with the venv's bin first."""
    home = Path.home()
    env = {
        "HOME": str(home),
        "XDG_STATE_HOME": str(xdg_dir("XDG_STATE_HOME", home / ".local" / "state")),
        "XDG_CACHE_HOME": str(xdg_dir("XDG_CACHE_HOME", home / ".cache")),
        "XDG_DATA_HOME": str(xdg_dir("XDG_DATA_HOME", home / ".local" / "share")),
        "PROVISION_ROOT": str(inv.root),
    }
    dirs = [str(Path(command[0]).parent)]
    for entry in (os.environ.get("PATH") or DEFAULT_PATH).split(os.pathsep):
        if os.path.isabs(entry) and entry.isprintable() and "\\" not in entry:
            dirs.append(entry)
    env["PATH"] = os.pathsep.join(dict.fromkeys(dirs))
    env.update({k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)})
    return env


@dataclass(frozen=True)
class Units:
    """The two unit files of one lab's schedule: names and text."""

    service: str
    timer: str
    service_text: str
    timer_text: str

    def files(self) -> list[tuple[str, str]]:
        """(name, text), the service first: the timer names it."""
        return [(self.service, self.service_text), (self.timer, self.timer_text)]


def render(
    inv: Inventory,
    cluster: str,
    schedule: Schedule,
    scope: Scope,
    command: list[str],
    environ: Mapping[str, str] | None = None,
) -> Units:
    """The service and the timer of this lab's schedule, as text."""
    service, timer = unit_names(inv)
    if schedule.notify:
        check_url(schedule.notify)  # printable ASCII, no space: quoted below as it is
    argv = rebuild_argv(inv, schedule, command)
    env = unit_environment(inv, command) if environ is None else dict(environ)
    for what, value in (
        ("the state directory", identity(inv)),
        ("the checkout", str(inv.root)),
        ("the config", str(inv.cluster_file)),
        ("the provision command", command[0]),
        *((f"${name}", value) for name, value in env.items()),
    ):
        _checked(value, what)
    header = [
        "# Written by `provision schedule`: the daily rebuild of the lab of",
        f"# {inv.cluster_file}",
        "# `provision schedule -i <that file>` writes it again, `... --remove` removes it;",
        "# provision changes or removes no unit file without the next line.",
        f"{MARK}{identity(inv)}",
    ]
    network = (
        ["Wants=network-online.target", "After=network-online.target"]
        if scope.name == "system"
        else []
    )
    service_text = [
        *header,
        "[Unit]",
        f"Description={_specifiers(f'provision rebuild of cluster {cluster}')}",
        *network,
        "",
        "[Service]",
        "Type=oneshot",
        f"WorkingDirectory={_specifiers(str(inv.root))}",
        *(_env_line(k, v) for k, v in env.items()),
        *(
            [_env_line(schedule.notify_env, schedule.notify)]
            if schedule.notify and schedule.notify_env
            else []
        ),
        "ExecStart=" + " ".join(_word(a, first=i == 0) for i, a in enumerate(argv)),
        "# A rebuild takes minutes; one still running after this is stuck.",
        f"TimeoutStartSec={RUN_TIMEOUT}",
        "# SIGTERM to provision alone: it stops its own children (as on Ctrl-C),",
        "# whatever is left is killed after TimeoutStopSec.",
        "KillMode=mixed",
        f"TimeoutStopSec={STOP_TIMEOUT}",
        "# Beside interactive work: a lower CPU and I/O priority, never starved.",
        "Nice=10",
        "IOSchedulingClass=best-effort",
        "IOSchedulingPriority=7",
    ]
    timer_text = [
        *header,
        "[Unit]",
        f"Description={_specifiers(f'Daily provision rebuild of cluster {cluster}')}",
        "",
        "[Timer]",
        f"OnCalendar=*-*-* {schedule.at}:00",
        "# A run missed while the machine was off starts when it is back.",
        "Persistent=true",
        f"RandomizedDelaySec={RANDOM_DELAY}",
        f"Unit={service}",
        "",
        "[Install]",
        "WantedBy=timers.target",
    ]
    return Units(service, timer, "\n".join(service_text) + "\n", "\n".join(timer_text) + "\n")


def _unit(path: Path, ident: str) -> tuple[str | None, str]:
    """(whose, text) of the file at path: whose is None when there is none, "" when
    it is this lab's unit, else why it is not (a link, another kind of file, another
    lab's, not provision's). Read with the careful reader: no link is followed."""
    fix = f"remove or rename it (`rm {path}`) if it is not needed, then run the command again"
    try:
        raw = read_small(path, "the unit file", fix, max_bytes=MAX_UNIT)
    except ProvisionError as e:
        return str(e).splitlines()[0].removeprefix(f"the unit file {path}: "), ""
    if raw is None:
        return None, ""
    text = raw.decode("utf-8", errors="replace")
    marks = [line.removeprefix(MARK) for line in text.splitlines() if line.startswith(MARK)]
    if ident in marks:
        return "", text
    if marks:
        return f"written by provision for another lab (state {marks[0]})", text
    return f"not written by provision (no `{MARK.strip()}` line)", text


def _refuse_foreign(path: Path, why: str) -> UsageError:
    return UsageError(
        f"the unit file {path} is not this lab's: {why}; provision leaves it alone\n"
        f"  fix: look at it (`cat {path}`); remove or rename it if it is not needed, "
        "then run the command again"
    )


def check_writable(inv: Inventory, scope: Scope) -> None:
    """Neither unit path holds a file that is not this lab's unit (a link included)."""
    for name in unit_names(inv):
        path = scope.unit_dir / name
        why, _ = _unit(path, identity(inv))
        if why:
            raise _refuse_foreign(path, why)


def analyze(paths: list[Path], scope: Scope) -> tuple[bool | None, str]:
    """`systemd-analyze [--user] verify` of unit files: (True, "") when it has no
    complaint, (False, its complaints) when it names one of them, (None, why) when it
    could not check here (not installed, or failing before it read them: no manager
    to initialize in this sandbox)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None, "systemd-analyze is not installed"
    with tempfile.TemporaryDirectory(prefix="provision-runtime-") as runtime:
        env = dict(os.environ)
        if scope.name == "user" and not env.get("XDG_RUNTIME_DIR"):
            env["XDG_RUNTIME_DIR"] = runtime  # its user mode needs one; nothing stays there
        try:
            out = subprocess.run(
                [tool, *scope.flags, "verify", *map(str, paths)],
                capture_output=True,
                text=True,
                env=env,
                timeout=SYSTEMCTL_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None, f"systemd-analyze verify did not answer in {SYSTEMCTL_SECONDS} s"
    names = {p.name for p in paths}
    said = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    ours = [line for line in said if any(n in line for n in names)]
    if ours:
        return False, "\n".join(ours)
    if out.returncode != 0:
        return None, (said or [f"systemd-analyze verify exited {out.returncode}"])[-1]
    return True, ""


def verify_units(units: Units, scope: Scope) -> str:
    """The units checked by systemd-analyze in a folder of their own before they go
    anywhere; what was checked, or HostError with systemd's complaints."""
    with tempfile.TemporaryDirectory(prefix="provision-units-") as folder:
        paths = []
        for name, text in units.files():
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        passed, said = analyze(paths, scope)
    command = f"systemd-analyze {'--user ' if scope.flags else ''}verify"
    if passed is None:
        return f"{command} could not run here ({said})"
    if not passed:
        raise HostError(
            f"{command} refuses the units provision made:\n{said}\n"
            "  fix: an older systemd may lack a setting: report it with the output of "
            "`systemd-analyze --version`"
        )
    return f"{command}: no problems"


def _run(argv: list[str], seconds: float) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(argv[0])
    if tool is None:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]} is not installed")
    try:
        return subprocess.run(
            [tool, *argv[1:]], capture_output=True, text=True, timeout=seconds, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"no answer in {seconds:.0f} s")
    except OSError as e:
        return subprocess.CompletedProcess(argv, 126, "", str(e))


def _said(out: subprocess.CompletedProcess[str]) -> str:
    lines = (out.stderr.strip() or out.stdout.strip()).splitlines()
    return lines[-1] if lines else f"exit {out.returncode}"


def manager(scope: Scope) -> tuple[bool, str]:
    """(a manager of this scope answers, its state or why none does)."""
    out = _run(scope.systemctl("is-system-running"), SYSTEMCTL_SECONDS)
    state = out.stdout.strip()
    if state in MANAGER_STATES:
        return True, state
    why = _said(out) if out.stderr.strip() or not state else state
    return False, why


def _show(scope: Scope, unit: str, seconds: float) -> dict[str, str] | None:
    """systemctl show of a unit, or None when no manager answered."""
    props = ("LoadState", "ActiveState", "UnitFileState", "NextElapseUSecRealtime")
    argv = scope.systemctl("show", *(f"--property={p}" for p in props), unit)
    out = _run(argv, seconds)
    if out.returncode != 0:
        return None
    shown = dict(line.partition("=")[::2] for line in out.stdout.splitlines() if "=" in line)
    return {p: shown.get(p, "") for p in props}


def enable_commands(scope: Scope, timer: str) -> list[str]:
    return [
        " ".join(scope.systemctl("daemon-reload")),
        " ".join(scope.systemctl("enable", "--now", timer)),
    ]


@dataclass
class Installed:
    """What install did: the files, how they were checked, whether a manager took them."""

    service: Path
    timer: Path
    argv: list[str]
    checked: str
    manager: bool
    manager_state: str
    next_run: str
    commands: list[str] = field(default_factory=list)  # to run where a manager answers
    linger: bool = True  # the user's manager runs with no session (loginctl enable-linger)


def check_scope_allowed(scope: Scope) -> None:
    if scope.name == "system" and os.geteuid() != 0:
        raise UsageError(
            f"--system writes {scope.unit_dir}, which only root can: the units would run "
            "as root, with root's state directory\n"
            "  fix: leave --system out (your own user manager runs the timer: --user, the "
            "default), or run `sudo provision schedule --system ...` for a lab of root's"
        )


def install(
    inv: Inventory,
    cluster: str,
    schedule: Schedule,
    scope: Scope,
    command: list[str] | None = None,
) -> Installed:
    """Write, check and (when a manager answers) enable and start this lab's timer."""
    check_scope_allowed(scope)
    command = command or provision_command()
    again = resolve_inventory(str(inv.cluster_file))
    if again.state_dir != inv.state_dir:
        raise UsageError(
            f"-i {inv.cluster_file} would be another lab's state ({again.state_dir}, not "
            f"{inv.state_dir}): its cluster.yml is a link\n"
            f"  fix: schedule the lab by the file the link points to: "
            f"`provision schedule -i {inv.cluster_file.resolve()} ...`"
        )
    units = render(inv, cluster, schedule, scope, command)
    check_writable(inv, scope)
    checked = verify_units(units, scope)
    scope.unit_dir.mkdir(parents=True, exist_ok=True)
    for name, text in units.files():
        with private_file(scope.unit_dir / name) as f:
            f.write(text.encode("utf-8"))
    for name, text in units.files():
        path = scope.unit_dir / name
        raw = read_small(path, "the unit file just written", max_bytes=MAX_UNIT)
        if raw != text.encode("utf-8"):
            raise OSFailure(
                f"the unit file {path} does not read back as written\n"
                "  fix: check that folder (another program changing it, a full disk), "
                "then run the command again"
            )
    answers, state = manager(scope)
    result = Installed(
        service=scope.unit_dir / units.service,
        timer=scope.unit_dir / units.timer,
        argv=rebuild_argv(inv, schedule, command),
        checked=checked,
        manager=answers,
        manager_state=state,
        next_run=next_run_at(schedule.hour, schedule.minute),
        linger=scope.name == "system" or _lingers(),
    )
    if not result.manager:
        result.commands = enable_commands(scope, units.timer)
        return result
    for argv in (scope.systemctl("daemon-reload"), scope.systemctl("enable", "--now", units.timer)):
        out = _run(argv, SYSTEMCTL_SECONDS)
        if out.returncode != 0:
            raise HostError(
                f"`{' '.join(argv)}` failed: {_said(out)}; the units are written\n"
                f"  fix: see `{' '.join(scope.systemctl('status', units.timer))}`, then "
                f"run: {'; '.join(enable_commands(scope, units.timer))}"
            )
    shown = _show(scope, units.timer, SYSTEMCTL_SECONDS) or {}
    if (shown.get("LoadState"), shown.get("ActiveState"), shown.get("UnitFileState")) != (
        "loaded",
        "active",
        "enabled",
    ):
        states = ", ".join(f"{k}={v}" for k, v in shown.items()) or "no answer"
        raise HostError(
            f"{units.timer} is not loaded, enabled and active after enable --now ({states})\n"
            f"  fix: see `{' '.join(scope.systemctl('status', units.timer))}` and "
            f"`journalctl {' '.join(scope.flags)} -u {units.timer}`"
        )
    result.next_run = shown.get("NextElapseUSecRealtime") or result.next_run
    return result


def _lingers() -> bool:
    """The user's manager runs while the user is logged out (`loginctl enable-linger`):
    without it a user timer fires only during a session."""
    import pwd

    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return False
    return Path("/var/lib/systemd/linger", user).exists()


@dataclass
class Removed:
    removed: list[Path] = field(default_factory=list)
    left: list[tuple[Path, str]] = field(default_factory=list)  # not this lab's: why
    manager: bool = False
    manager_state: str = ""
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def remove(inv: Inventory, scope: Scope) -> Removed:
    """Disable and remove this lab's units in scope; any other file is left alone."""
    check_scope_allowed(scope)
    service, timer = unit_names(inv)
    result = Removed()
    ours = []
    for name in (timer, service):
        path = scope.unit_dir / name
        why, _ = _unit(path, identity(inv))
        if why is None:
            continue
        if why:
            result.left.append((path, why))
        else:
            ours.append(path)
    if not ours:
        return result
    result.manager, result.manager_state = manager(scope)
    timer_path = scope.unit_dir / timer
    if result.manager and timer_path in ours:
        out = _run(scope.systemctl("disable", "--now", timer), SYSTEMCTL_SECONDS)
        if out.returncode != 0:
            result.notes.append(f"`systemctl {' '.join(scope.flags)} disable --now`: {_said(out)}")
    # enable's link to the timer (also one made while no manager answered)
    if timer_path in ours:
        for link in scope.unit_dir.glob(f"*.wants/{timer}"):
            if link.is_symlink() and os.readlink(link) == str(timer_path):
                link.unlink()
    for path in ours:
        path.unlink(missing_ok=True)
        result.removed.append(path)
    if result.manager:
        out = _run(scope.systemctl("daemon-reload"), SYSTEMCTL_SECONDS)
        if out.returncode != 0:
            result.notes.append(f"`systemctl {' '.join(scope.flags)} daemon-reload`: {_said(out)}")
    elif timer_path in ours:
        result.commands = [
            " ".join(scope.systemctl("stop", timer)),
            " ".join(scope.systemctl("daemon-reload")),
        ]
    return result


def next_run_at(hour: int, minute: int, now: datetime | None = None) -> str:
    """The next hour:minute of the host's local time, as OnCalendar reads it, plus the
    randomized delay."""
    now = now or datetime.now().astimezone()
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    return f"{at:%a %Y-%m-%d %H:%M} {at:%Z}".strip() + f" (+ up to {RANDOM_DELAY_MINUTES} min)"


def last_rebuild(inv: Inventory) -> dict:
    """The verdict of the newest rebuild in <state>/reports/history.jsonl: passed,
    failed, "none yet", or "unknown" when the history cannot be read (a damaged file,
    a link), with why."""
    history = inv.state_dir / "reports" / "history.jsonl"
    try:
        entries = read_history(history)
    except (ProvisionError, OSError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return {"verdict": "unknown", "reason": reason}
    if not entries:
        return {"verdict": "none yet"}
    newest = entries[-1]
    passed = newest.get("passed")
    verdict = "unknown" if not isinstance(passed, bool) else "passed" if passed else "failed"
    found = {"verdict": verdict, "report": newest["report"]}
    if isinstance(newest.get("started"), str):
        found["started"] = newest["started"]
    if isinstance(newest.get("drill_passed"), bool):
        found["drill_passed"] = newest["drill_passed"]
    return found


def schedule_status(inv: Inventory, scopes: list[Scope] | None = None) -> dict | None:
    """This lab's schedule as `provision status` shows it, or None when it has none:
    per scope the time and the next run (systemd's when a manager answers, else
    from the timer file), and the newest rebuild's verdict. Reads only; asks
    systemd nothing when there is no unit file of this lab."""
    timers = []
    _, timer = unit_names(inv)
    for scope in scopes or [user_scope(), system_scope()]:
        path = scope.unit_dir / timer
        why, text = _unit(path, identity(inv))
        if why != "":
            continue
        found = _ON_CALENDAR.search(text)
        at = f"{found[1]}:{found[2]}" if found else ""
        entry = {"scope": scope.name, "timer": timer, "file": str(path), "at": at}
        shown = _show(scope, timer, STATUS_SECONDS)
        if shown is not None and shown["LoadState"] == "loaded":
            next_run = shown["NextElapseUSecRealtime"]
            if not next_run or shown["ActiveState"] != "active":
                next_run = (
                    f"none: the timer is {shown['ActiveState'] or 'inactive'} "
                    f"(`{' '.join(scope.systemctl('enable', '--now', timer))}`)"
                )
            entry |= {"next_run": next_run, "from": "systemd"}
        else:
            computed = next_run_at(int(found[1]), int(found[2])) if found else "unknown"
            why = (
                "no systemd manager answered"
                if shown is None
                else f"systemd has not loaded it: `{' && '.join(enable_commands(scope, timer))}`"
            )
            entry |= {"next_run": computed, "from": f"the timer file: {why}"}
        timers.append(entry)
    if not timers:
        return None
    return {"timers": timers, "last_rebuild": last_rebuild(inv)}
