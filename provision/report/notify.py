"""`rebuild --notify URL`: a JSON summary of the rebuild posted to a webhook.

Only http and https, never a URL carrying a user name or password (errors and logs
never repeat either, and name only the URL's scheme, host and port: a webhook's path
is often its secret). Each try has a timeout; a failed try is tried again a bounded
number of times, with a growing wait. A post that fails in the end is said and logged,
and changes neither the verdict nor the exit code. The body holds what the report's
summary says, never a credential: the lab's stored credentials are replaced wherever
they would appear.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from provision.errors import UsageError
from provision.report.build import Report, first_line

TIMEOUT = 10.0  # seconds, each try
ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the second try; doubled before each next one
HIDDEN = "[hidden]"
# Stored credentials shorter than this are names, not secrets (rabbitmq-user is
# "provision", which paths contain): generated passwords are 24 or 32 characters.
MIN_SECRET = 12
ON = ("failure", "always")
MESSAGE = 1000  # characters of each failure's message posted (the report has it whole)


def check_url(url: str) -> str:
    """The URL if provision will post to it; UsageError otherwise, naming the problem
    without the URL's credentials (or its path, which may be a token)."""
    fix = "  fix: pass an http:// or https:// URL with no user name or password in it"
    if not url or any(not (c.isascii() and c.isprintable()) or c == " " for c in url):
        raise UsageError("--notify: the URL holds spaces, control or non-ASCII characters\n" + fix)
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises only when read
    except ValueError as e:
        problem = "its port is not a number" if "port" in str(e).lower() else "it is not a URL"
        raise UsageError(f"--notify: {problem}\n{fix}") from None
    if parts.scheme not in ("http", "https"):
        # the scheme is not repeated: in "user:password@host" it is the user name
        raise UsageError(f"--notify: the URL does not start with http:// or https://\n{fix}")
    if "@" in parts.netloc:
        raise UsageError(
            f"--notify: the URL for {where(url)} carries a user name or password; provision "
            "sends no credentials in a URL (they would end up in logs)\n"
            "  fix: use the webhook's token URL (the token in its path or query), or a "
            "receiver that needs no login"
        )
    if not parts.hostname:
        raise UsageError(f"--notify: the URL names no host\n{fix}")
    return url


def where(url: str) -> str:
    """scheme://host[:port] of a checked URL: what messages name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def body(report: Report, out: Path) -> dict:
    """What is posted: the verdict, what failed, what changed, where the files are."""
    compare = report.compare
    return {
        "verdict": "passed" if report.passed else "failed",
        "cluster": report.cluster,
        "started": report.started,
        "seconds": report.seconds,
        "failed_phases": [p.name for p in report.phases if p.status == "failed"],
        "failed_checks": [f"{c.addon}: {c.check}" for c in report.checks if c.status == "failed"],
        "failures": [
            {"where": f.where, "host": f.host, "task": f.task, "message": f.message[:MESSAGE]}
            for f in report.failures
        ],
        "drill_passed": None if report.drill is None else report.drill["passed"],
        "diff": compare.lines() if compare is not None else [],
        "summary": report.summary().splitlines()[0],
        "report": str(out),
        "diagnostics": report.diagnostics,
    }


def encode(data: dict, secrets: Iterable[str] = ()) -> bytes:
    """The JSON of `data` with every secret of MIN_SECRET characters or more hidden."""
    text = json.dumps(data, indent=1)
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
        escaped = json.dumps(secret)[1:-1]  # as it appears inside a JSON string
        text = text.replace(escaped, HIDDEN)
    return text.encode("utf-8")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to post to: the body goes where the
    operator said and nowhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


def post(
    url: str,
    data: bytes,
    say: Callable[[str], None],
    timeout: float = TIMEOUT,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
) -> bool:
    """POST `data` (JSON) to url; True once a try is answered with 2xx. Tries again
    after a connection error, a timeout, 429 or 5xx; never raises."""
    target = where(url)
    opener = urllib.request.build_opener(_NoRedirects)
    wait = backoff
    problem = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "provision-rebuild"},
        )
        again = True
        try:
            with opener.open(request, timeout=timeout) as answer:
                status = answer.status
            if 200 <= status < 300:
                say(f"notify: posted to {target} (HTTP {status})")
                return True
            problem, again = f"HTTP {status}", False
        except urllib.error.HTTPError as e:
            problem, again = f"HTTP {e.code}", e.code >= 500 or e.code == 429
            e.close()
        except urllib.error.URLError as e:
            problem = f"{_reason(e.reason)}"
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            problem = _reason(e)
        except Exception as e:  # a post never ends the command
            problem, again = f"{type(e).__name__}", False
        if not again or attempt == attempts:
            break
        say(
            f"notify: try {attempt} of {attempts} to {target} failed ({problem}); "
            f"again in {wait:g} s"
        )
        time.sleep(wait)
        wait *= 2
    say(f"notify: could not post to {target} ({problem}); the rebuild's result stands")
    return False


def _reason(e: object) -> str:
    """A short reason of a network error, without a URL."""
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return first_line(str(e), 120) or type(e).__name__
