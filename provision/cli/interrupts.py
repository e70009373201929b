"""Ctrl-C and SIGTERM end a command the same way, children included.

SIGTERM (what CI systems send when they cancel a job) raises KeyboardInterrupt in
the command, as Ctrl-C does. A terminal's Ctrl-C reaches every process of its
foreground group: provision and the children it started there (vagrant, docker,
ssh). A SIGTERM reaches provision alone, so it passes SIGINT on to them. Children in
a session of their own (ansible-runner starts ansible-playbook on a pseudo-terminal)
never see a terminal's Ctrl-C: they get SIGINT from here on either signal.

Once interrupted, the command waits for its children to finish their own clean-up
(vagrant removes what it was making), then kills what is still running, so no child
outlives provision. Signals a parent chose to ignore (a background job ignores
SIGINT) stay ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# How long children get to clean up after an interrupt before they are killed.
SETTLE_SECONDS = 30.0


def descendants() -> list[tuple[int, int]]:
    """(pid, process group) of every living process below this one, from /proc."""
    children: dict[int, list[tuple[int, int]]] = {}
    try:
        entries = list(os.scandir("/proc"))
    except OSError:  # no /proc: only a terminal's Ctrl-C reaches the children
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        state, ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if state != "Z":
            children.setdefault(int(ppid), []).append((int(entry.name), int(pgrp)))
    found: list[tuple[int, int]] = []
    todo = [os.getpid()]
    while todo:
        for pid, group in children.get(todo.pop(), []):
            found.append((pid, group))
            todo.append(pid)
    return found


def _send(signum: int, processes: list[tuple[int, int]]) -> None:
    for pid, _ in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def pass_on(signum: int) -> None:
    """SIGINT to the children that did not get this signal with provision: all of
    them after a SIGTERM, those outside provision's process group after a SIGINT."""
    own = os.getpgrp()
    _send(
        signal.SIGINT,
        [(p, g) for p, g in descendants() if signum == signal.SIGTERM or g != own],
    )


def settle(timeout: float = SETTLE_SECONDS) -> None:
    """Wait for the children to exit; kill those still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := descendants()) and time.monotonic() < deadline:
        time.sleep(0.1)
    _send(signal.SIGKILL, left)


class _Handler:
    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame) -> None:
        self.fired = True
        pass_on(signum)
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """For the length of a command: SIGINT and SIGTERM raise KeyboardInterrupt after
    passing SIGINT on; on the way out after one, the children are settled."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (e.g. a test runner's worker)
        return
    handler = _Handler()
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if current not in (signal.SIG_IGN, None):  # None: set outside Python, kept
            previous[signum] = current
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, current in previous.items():
            signal.signal(signum, current)
        if handler.fired:
            settle()
