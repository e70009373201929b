"""`rebuild --notify URL`: the JSON summary posted to a webhook, against a real HTTP
server on 127.0.0.1: posted once when answered, tried again after a 500, bounded when
the server never answers, never a credential in the body or in an error."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from provision.addons.secrets import ensure_secrets
from provision.cli import cli
from provision.errors import UsageError
from provision.report.build import FailureReport
from provision.report.notify import HIDDEN, body, check_url, encode, post
from provision.verify.run import Result
from tests.unit.test_report import report


class Webhook:
    """A webhook on 127.0.0.1 answering each POST with the next of `statuses` (then
    200); every body it received, in order."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.bodies: list[bytes] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                hook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0K3N"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch):
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                  "ALL_PROXY"):  # fmt: skip
        monkeypatch.delenv(proxy, raising=False)
    made: list[Webhook] = []

    def make(*statuses: int) -> Webhook:
        made.append(Webhook(list(statuses)))
        return made[-1]

    yield make
    for hook in made:
        hook.close()


def test_a_post_that_is_answered_is_made_once(webhook):
    hook = webhook(204)
    said: list[str] = []
    assert post(hook.url, b'{"verdict": "failed"}', said.append)
    assert hook.bodies == [b'{"verdict": "failed"}']
    assert said == [f"notify: posted to {hook.url.split('/hooks')[0]} (HTTP 204)"]


def test_a_500_is_tried_again_after_a_wait(webhook):
    hook = webhook(500, 503)
    said: list[str] = []
    started = time.monotonic()
    assert post(hook.url, b"{}", said.append, backoff=0.2)
    took = time.monotonic() - started
    assert len(hook.bodies) == 3
    assert 0.2 + 0.4 <= took < 5, took  # waited 0.2 s, then twice that
    assert said[0].endswith("failed (HTTP 500); again in 0.2 s")
    assert said[1].endswith("failed (HTTP 503); again in 0.4 s")
    assert "T0K3N" not in "".join(said)  # the path may be the webhook's secret


def test_the_tries_are_bounded_and_a_4xx_or_a_redirect_is_not_tried_again(webhook):
    hook = webhook(500, 500, 500, 500)
    said: list[str] = []
    assert not post(hook.url, b"{}", said.append, backoff=0.01)
    assert len(hook.bodies) == 3
    target = hook.url.removesuffix("/hooks/T0K3N")
    assert said[-1] == f"notify: could not post to {target} (HTTP 500); the rebuild's result stands"
    for status in (400, 302):
        hook = webhook(status)
        assert not post(hook.url, b"{}", said.append, backoff=0.01)
        assert len(hook.bodies) == 1, status  # a redirect is not followed either
        assert said[-1].endswith(f"(HTTP {status}); the rebuild's result stands")


def test_a_server_that_never_answers_costs_a_bounded_time(webhook):
    """It accepts the connection, reads nothing and says nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    said: list[str] = []
    started = time.monotonic()
    try:
        assert not post(url, b"{}", said.append, timeout=0.5, attempts=3, backoff=0.1)
        took = time.monotonic() - started
    finally:
        listener.close()
        for s in held:
            s.close()
    assert len(held) == 3
    assert 3 * 0.5 + 0.1 + 0.2 <= took < 3 * 0.5 + 0.3 + 3, took
    assert said[-1].endswith("(timed out); the rebuild's result stands"), said
    print(f"three tries of 0.5 s against a silent server: {took:.1f} s")


def test_an_unreachable_webhook_is_said_and_nothing_raised(webhook):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens
    said: list[str] = []
    assert not post(f"http://127.0.0.1:{port}/", b"{}", said.append, backoff=0.01)
    assert "Connection refused" in said[-1]


@pytest.mark.parametrize(
    "url, words",
    [
        ("ftp://example.com/hook", "does not start with http:// or https://"),
        ("file:///etc/passwd", "does not start with http:// or https://"),
        ("javascript:alert(1)", "does not start with http:// or https://"),
        ("example.com/hook", "does not start with http:// or https://"),
        ("ops:S3cr3t@example.com/hook", "does not start with http:// or https://"),
        ("https:///hook", "names no host"),
        ("https://example.com:http/x", "its port is not a number"),
        ("https://example.com/a b", "spaces, control or non-ASCII"),
        ("https://example.com/\x1b[2J", "spaces, control or non-ASCII"),
    ],
)
def test_only_http_and_https_urls_are_posted_to(url, words):
    with pytest.raises(UsageError, match=words) as e:
        check_url(url)
    assert "S3cr3t" not in str(e.value) and "ops" not in str(e.value)


@pytest.mark.parametrize("userinfo", ["ops:S3cr3t-pw", "ops:", ":S3cr3t-pw", "S3cr3t-pw"])
def test_a_url_with_credentials_is_refused_without_repeating_them(userinfo):
    with pytest.raises(UsageError) as e:
        check_url(f"https://{userinfo}@hooks.example.com:8443/services/T0K3N?x=1")
    message = str(e.value)
    assert "carries a user name or password" in message
    assert "https://hooks.example.com:8443" in message
    for secret in ("S3cr3t", "ops", "T0K3N", "services"):
        assert secret not in message, message


def test_the_cli_refuses_a_bad_url_before_anything_and_never_echoes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for url in ("https://ops:S3cr3t-pw@hooks.example.com/x", "gopher://x/"):
        result = CliRunner().invoke(cli, ["rebuild", "-i", str(tmp_path / "none.yml"),
                                          "--notify", url])  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "--notify" in result.output and "S3cr3t" not in result.output
    env = CliRunner(env={"PROVISION_NOTIFY_URL": "https://ops:S3cr3t-pw@h.example.com/"})
    result = env.invoke(cli, ["rebuild", "-i", str(tmp_path / "none.yml")])
    assert result.exit_code == 2 and "S3cr3t" not in result.output, result.output
    assert not (tmp_path / "state").exists()


def test_no_generated_secret_is_posted(webhook, lab, write_config, tmp_path):
    """The lab's generated credentials, as a careless task or check would print them,
    are hidden in what is posted; the rest of the summary is there."""
    from provision.cli.rebuild import RebuildCommand
    from provision.config import load

    config = load(write_config(lab))
    state = tmp_path / "state"
    secrets = ensure_secrets(config, state)
    passwords = [v for k, v in secrets.items() if "password" in k or "cookie" in k]
    assert len(passwords) >= 3
    failed = report(passed=False)
    failed.failures.append(FailureReport("addons.yml", "cp1", "Create the user",
                                         f"mysql -p{passwords[0]} failed"))  # fmt: skip
    failed.checks.append(Result("rabbitmq", "publish", "failed",
                                f"login {passwords[1]} refused", 1.0))  # fmt: skip
    failed.diagnostics = str(tmp_path / "diagnostics" / "diagnostics-x.tar.gz")
    out = tmp_path / "reports" / "20261123T180000Z"
    command = SimpleNamespace(inv=SimpleNamespace(state_dir=state))
    hook = webhook()
    assert post(hook.url, encode(body(failed, out), RebuildCommand._secrets(command)), print)
    (received,) = hook.bodies
    for secret in secrets.values():
        if len(secret) >= 12:
            assert secret.encode() not in received
    data = json.loads(received)
    assert data["verdict"] == "failed" and data["cluster"] == "lab"
    assert data["failed_phases"] == ["join"]
    assert data["failed_checks"] == ["rabbitmq: publish"]
    assert data["failures"][1]["message"] == f"mysql -p{HIDDEN} failed"
    assert data["report"] == str(out) and data["diagnostics"] == failed.diagnostics
    assert data["summary"].startswith("FAILED: provision rebuild of lab")


@pytest.mark.parametrize("on, passed, posts", [
    ("failure", True, 0), ("failure", False, 1), ("always", True, 1), ("always", False, 1),
])  # fmt: skip
def test_notify_on_failure_posts_only_when_the_rebuild_did_not_pass(
    webhook, tmp_path, on, passed, posts
):
    from provision.cli.rebuild import RebuildCommand
    from provision.errors import RebuildFailed

    hook = webhook()
    command = object.__new__(RebuildCommand)  # as execute leaves it, without a lab
    command.inv = SimpleNamespace(state_dir=tmp_path / "state")
    command.report, command.out = report(passed=passed), tmp_path / "reports" / "r1"
    command.notify, command.notify_on = hook.url, on
    said: list[str] = []
    command.log = SimpleNamespace(say=lambda line, style=None: said.append(line))
    if passed:
        command.done()
    else:
        with pytest.raises(RebuildFailed):  # the same verdict whatever the post did
            command.done()
    assert len(hook.bodies) == posts
    if posts:
        assert json.loads(hook.bodies[0])["verdict"] == ("passed" if passed else "failed")
