"""Steps of the bundle build that run beside the Go builds, one after another on one
worker thread: the Debian base layers (debootstrap) and the Maven fetches, which
need no Go output and wait mostly on downloads and dpkg.

    with Background(say, step) as background:
        layer = background.submit("kube-proxy base layer", make_layer)
        ...                                  # the Go builds, in the foreground
        background.result(layer)             # the layer, or the step's error

A failed step ends the build with its own error: `failed` is set at once, which
stops a foreground command started through run_stoppable (the Go build under way),
and the next foreground step raises the error. When the build ends early (an error,
Ctrl-C), steps not started are dropped and the command of the one under way is
stopped (SIGINT to its process group, as from Ctrl-C, then SIGTERM, then SIGKILL:
STOP_SIGNALS); leaving the `with` waits for that, so no debootstrap or apt outlives
the build and the staging directory is removed only after them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from provision.errors import BundleError

T = TypeVar("T")
POLL = 0.2  # how often a stoppable command's wait looks at its stop event (seconds)
# How a command is stopped: each signal to its process group, then as many seconds for it
# to exit (its own clean-up: go removes its work dir, debootstrap unmounts), then SIGKILL.
# SIGTERM: dpkg ignores SIGINT while a maintainer script runs, and debootstrap waits for it.
STOP_SIGNALS = ((signal.SIGINT, 5.0), (signal.SIGTERM, 10.0))


class Step(Protocol):
    """Runs one step of the build now and returns what it made: step(what, fn) -> fn()."""

    def __call__(self, what: str, fn: Callable[[], T], /) -> T: ...


class Stopped(BundleError):
    """A command stopped because the build is ending (the error that ends it is reported)."""


@dataclass(frozen=True)
class Job(Generic[T]):
    """A step submitted to the background: its name in the build's lines, its outcome."""

    what: str
    future: Future[T]


_worker = threading.local()  # on the worker thread: .stop, the Background's `stopping`


class Background:
    """One worker thread for the steps that need no Go output (see the module doc)."""

    def __init__(self, say: Callable[[str], None], step: Step):
        self.say = say
        self.step = step  # the foreground's step: a wait for a job is timed as one
        self.failed = threading.Event()  # a step raised: the foreground stops
        self.stopping = threading.Event()  # the build is ending: the worker stops
        self.timings: list[tuple[str, float]] = []  # (step, seconds) of the finished steps
        self._error: BaseException | None = None
        self._pool = ThreadPoolExecutor(
            1, "bundle-background", initializer=_bind, initargs=(self.stopping,)
        )

    def __enter__(self) -> Background:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is not None:
            self.stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=error is not None)
        if error is None or (isinstance(error, Stopped) and self._error is not None):
            self.check()  # the background's error is the build's

    def submit(self, what: str, fn: Callable[[], T]) -> Job[T]:
        """Run fn on the worker after the steps submitted before it."""
        return Job(what, self._pool.submit(self._run, what, fn))

    def result(self, job: Job[T]) -> T:
        """What the step returned, waiting for it (a step of its own when it takes time);
        raises the step's error."""
        if job.future.done():
            return job.future.result()
        return self.step(f"waiting for {job.what} in the background", job.future.result)

    def check(self) -> None:
        """Raises the error of a step that failed, at once (the foreground's steps call it)."""
        if self._error is not None:
            raise self._error

    def _run(self, what: str, fn: Callable[[], T]) -> T:
        if self.stopping.is_set():
            raise Stopped(f"{what}: not started, the build is ending")
        self.say(f"  [background] {what} ...")
        started = time.monotonic()
        try:
            result = fn()
        except BaseException as e:
            if not self.stopping.is_set() and self._error is None:
                self._error = e
                self.failed.set()
                took = time.monotonic() - started
                self.say(f"  [background] {what}: failed after {took:.1f} s")
            raise
        took = time.monotonic() - started
        self.timings.append((what, took))
        self.say(f"  [background] {what}: done in {took:.1f} s")
        return result


def _bind(stopping: threading.Event) -> None:
    _worker.stop = stopping


def run_stoppable(
    cmd: list[str], *, stop: threading.Event | None = None, **popen: Any
) -> subprocess.CompletedProcess:
    """subprocess.run(cmd, check=False, **popen) that an ending build can stop.

    `stop` defaults to the Background's `stopping` on its worker thread; with none
    this is plain subprocess.run. With one, the command runs in a process group of
    its own and, when the event is set or the caller is interrupted, is stopped with
    all of its group (STOP_SIGNALS); Stopped is raised when the event stopped it.
    """
    stop = stop if stop is not None else getattr(_worker, "stop", None)
    if stop is None:
        return subprocess.run(cmd, check=False, **popen)
    if stop.is_set():
        raise Stopped(f"{cmd[0]}: not started, the build is ending")
    if popen.pop("capture_output", False):
        popen["stdout"] = popen["stderr"] = subprocess.PIPE
    popen.setdefault("stdin", subprocess.DEVNULL)  # outside the terminal's group: no reads
    with subprocess.Popen(cmd, process_group=0, **popen) as proc:
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    if stop.is_set():
                        raise Stopped(f"{cmd[0]} stopped: the build is ending") from None
        except BaseException:
            _stop(proc)
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _stop(proc: subprocess.Popen) -> None:
    """Each of STOP_SIGNALS to the command's process group until it has exited and
    closed its output; SIGKILL to the group when it is still there after them."""
    for signum, grace in STOP_SIGNALS:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        try:
            proc.communicate(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
