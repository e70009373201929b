"""The bundle build's background worker (provision/bundle/background.py) for real: steps
on a thread, real commands stopped on failure and on Ctrl-C, the staging directory
removed after them."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from provision.bundle import background as bg
from provision.bundle.background import Background, Stopped, run_stoppable
from provision.bundle.baseimage import mounts_under
from provision.bundle.gomod import Go
from provision.bundle.manifest import staging
from provision.errors import BundleError


class Lines(list):
    def __call__(self, line: str) -> None:
        self.append(line)


def foreground_step(lines: Lines):
    def step(what, fn):
        lines.append(f"  {what} ...")
        return fn()

    return step


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def wait_for(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return path.read_text().strip()


def fail(message: str):
    def step():
        raise BundleError(message)

    return step


def test_steps_run_in_order_beside_the_caller_and_report_their_time():
    lines = Lines()
    order = []
    with Background(lines, foreground_step(lines)) as background:
        first = background.submit("first", lambda: order.append("first") or 1)
        second = background.submit("second", lambda: order.append("second") or 2)
        assert background.result(second) == 2
        assert background.result(first) == 1
    assert order == ["first", "second"]
    assert "  [background] first ..." in lines
    assert any(line.startswith("  [background] second: done in ") for line in lines)
    assert [what for what, _ in background.timings] == ["first", "second"]


def test_waiting_for_a_step_is_a_step_of_the_foreground():
    lines = Lines()
    release = threading.Event()
    with Background(lines, foreground_step(lines)) as background:
        job = background.submit("slow layer", lambda: release.wait(10) and "layer")
        threading.Timer(0.3, release.set).start()
        assert background.result(job) == "layer"
    assert "  waiting for slow layer in the background ..." in lines


def test_a_failed_step_stops_the_foreground_command_and_is_the_builds_error(tmp_path):
    """The foreground's Go build (here `sleep 30`) is stopped at once; the build ends
    with the background step's own error; the staging directory is removed."""
    lines = Lines()
    bundle = tmp_path / "bundle"
    started = time.monotonic()
    with (
        pytest.raises(BundleError, match="debootstrap of the kube-proxy base failed") as raised,
        staging(bundle, "build", lines) as stage,
        Background(lines, foreground_step(lines)) as background,
    ):
        (stage / "work").mkdir()
        background.submit(
            "kube-proxy base layer (Debian)",
            fail("debootstrap of the kube-proxy base failed with exit 1"),
        )
        run_stoppable(["sleep", "30"], stop=background.failed)
    assert not isinstance(raised.value, Stopped)
    assert time.monotonic() - started < 10
    assert not list(tmp_path.glob(".bundle-build-*")), "staging dir left behind"
    assert any("kube-proxy base layer (Debian): failed after" in line for line in lines)


def test_the_next_foreground_step_raises_a_background_failure_at_once():
    lines = Lines()
    with (
        pytest.raises(BundleError, match="mirror down"),
        Background(lines, foreground_step(lines)) as background,
    ):
        background.submit("calico-node base layer (Debian)", fail("mirror down"))
        assert background.failed.wait(5)
        background.check()  # what BundleBuild._step does first
        pytest.fail("check() did not raise")


def test_a_go_build_stops_when_the_background_fails(tmp_path):
    stop = threading.Event()
    go = Go(tmp_path, tmp_path, binary="sh", stop=stop)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stopped):
        go.run(["-c", "sleep 30"], tmp_path, "stopped")
    assert time.monotonic() - started < 10


def test_an_interrupted_build_stops_the_background_command_and_drops_the_rest(
    tmp_path, monkeypatch
):
    """Ctrl-C in the foreground: the command under way in the background is stopped,
    its child too, though it ignores SIGINT and SIGHUP (SIGKILL after them); steps not
    started never run; staging is removed after."""
    monkeypatch.setattr(bg, "STOP_SIGNALS", ((signal.SIGINT, 0.5), (signal.SIGHUP, 0.5)))
    lines = Lines()
    pids = tmp_path / "pids"
    ran = []
    with (
        pytest.raises(KeyboardInterrupt),
        staging(tmp_path / "bundle", "build", lines),
        Background(lines, foreground_step(lines)) as background,
    ):
        background.submit(
            "debootstrap",
            lambda: run_stoppable(
                ["sh", "-c", f"(trap '' HUP; exec sleep 60) & echo $$ $! > {pids}; wait"],
                capture_output=True,
            ),
        )
        background.submit("after", lambda: ran.append("after"))
        shell, child = map(int, wait_for(pids).split())
        raise KeyboardInterrupt
    assert gone(shell) and gone(child)
    assert ran == []
    assert not list(tmp_path.glob(".bundle-build-*")), "staging dir left behind"
    assert not any("failed" in line for line in lines), "a stopped step is no failure"


CTRL_C = """
import sys, time
from provision.bundle.background import Background, run_stoppable
pids = sys.argv[1]
with Background(print, lambda what, fn: fn()) as background:
    job = background.submit("debootstrap", lambda: run_stoppable(
        ["sh", "-c", f"echo $$ > {pids}; exec sleep 60"], capture_output=True))
    background.result(job)
"""


def test_ctrl_c_stops_the_background_command(tmp_path):
    """A real SIGINT to a process waiting on a background step: it ends, and the
    step's command (in a process group of its own, so the signal never reached it)
    does not outlive it."""
    pids = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, str(pids)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a terminal's Ctrl-C finds it: a runner that started the tests in the
        # background (SIGINT ignored, inherited) would make Python ignore it too
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    sleeper = int(wait_for(pids))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert gone(sleeper)


def test_a_stoppable_command_returns_like_subprocess_run():
    stop = threading.Event()
    done = run_stoppable(
        ["sh", "-c", "echo out; echo err >&2; exit 3"], stop=stop, text=True, capture_output=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    stop.set()
    with pytest.raises(Stopped):
        run_stoppable(["true"], stop=stop)


def test_mounts_under_finds_debootstraps_mounts_only():
    mountinfo = "\n".join(
        [
            "22 1 0:21 / /proc rw - proc proc rw",
            "90 23 0:5 / /cache/bundle-base/rootfs-abc/proc rw - proc proc rw",
            "91 23 0:6 /shm /cache/bundle-base/rootfs-abc/dev/shm rw - tmpfs tmpfs rw",
            "92 23 0:7 / /cache/bundle-base/rootfs-abcdef/sys rw - sysfs sysfs rw",
            r"93 23 0:8 / /cache/my\040dir/rootfs-x/proc rw - proc proc rw",
        ]
    )
    found = mounts_under(Path("/cache/bundle-base/rootfs-abc"), mountinfo)
    assert found == [
        "/cache/bundle-base/rootfs-abc/proc",
        "/cache/bundle-base/rootfs-abc/dev/shm",
    ]
    assert mounts_under(Path("/cache/my dir/rootfs-x"), mountinfo) == [
        "/cache/my dir/rootfs-x/proc"
    ]


def test_add_on_images_wait_for_their_bases_outside_their_own_steps(monkeypatch, tmp_path):
    """The build's total is the sum of its foreground steps: a wait for a base layer
    must be a step of its own, not one inside an image's step (counted twice)."""
    from provision.addons.registry import image_recipes
    from provision.bundle import addon_images

    depth = [0]
    nested = []

    def step(what, fn):
        if depth[0]:
            nested.append(what)
        depth[0] += 1
        try:
            return fn()
        finally:
            depth[0] -= 1

    class Bases:
        """Each layer takes time the first time it is asked for (as Background.result)."""

        background = None

        def __init__(self):
            self.done = set()

        def start(self, *recipes):
            pass

        def layer(self, recipe):
            if recipe in self.done:
                return "layer"
            self.done.add(recipe)
            return step(f"waiting for {recipe.name} base layer", lambda: "layer")

    debian = [r for r in image_recipes() if r.debian is not None]
    status = "\n\n".join(f"Package: {i.pins}\nVersion: 1:{i.tag_series}.1-1" for i in debian)
    monkeypatch.setattr(
        addon_images.AddonImages, "_base", lambda self, r: (self.bases.layer(r), status)
    )
    monkeypatch.setattr(
        addon_images.AddonImages, "_image", lambda self, out, work, image, *a: image.ref("-")
    )
    wanted = {i.component: i.ref("-") for i in debian}
    images = addon_images.AddonImages(tmp_path, None, step, "3.5.1", wanted, Bases(), debian)
    images.start(tmp_path)
    assert images.run(tmp_path, tmp_path) == [i.ref("-") for i in debian]
    assert nested == []
