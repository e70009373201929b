#!/usr/bin/env python3
"""Wait for each add-on workload's rollout, on the control plane (provision's
addons_deploy role runs it). It stops early, naming the pod, container and image,
when a pod cannot get its image: at once for a reason the kubelet never retries
(ErrImageNeverPull, InvalidImageName), after --pull-patience seconds of pull back-off
for one it retries (a registry that is slow recovers within that, a missing image
does not). A refused or dropped API connection is retried until --timeout (an
emulated API server can restart under load).

usage: wait_addons.py --namespace NS --timeout S --pull-patience S WORKLOAD..."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

KUBECTL = ["kubectl"]  # then --kubeconfig, from the command line
NEVER = {"ErrImageNeverPull", "InvalidImageName"}
BACK_OFF = {"ErrImagePull", "ImagePullBackOff"}
TRY_SECONDS = 15  # one `rollout status` try


def kubectl(*args: str, seconds: int) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [*KUBECTL, *args], capture_output=True, text=True, timeout=seconds + 30
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", "kubectl did not answer")


def image_problems(namespace: str) -> list[tuple[str, str, str]]:
    """(key, reason, description) of each container waiting for an image it cannot
    get."""
    out = kubectl("-n", namespace, "get", "pods", "-o", "json", seconds=30)
    if out.returncode != 0:
        return []  # the API is away: the rollout's tries say so
    problems = []
    for pod in json.loads(out.stdout).get("items", []):
        status = pod.get("status") or {}
        for c in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
            waiting = (c.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            if reason in NEVER or reason in BACK_OFF:
                name = pod["metadata"]["name"]
                problems.append(
                    (
                        f"{name}/{c['name']}",
                        reason,
                        f"pod {name}, container {c['name']}: {reason}: image {c.get('image')}"
                        f" ({waiting.get('message', 'no message')})",
                    )
                )
    return problems


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--kubeconfig", required=True)
    args.add_argument("--namespace", required=True)
    args.add_argument("--timeout", type=int, required=True)
    args.add_argument("--pull-patience", type=int, required=True)
    args.add_argument("workloads", nargs="+")
    opts = args.parse_args()
    KUBECTL.extend(["--kubeconfig", opts.kubeconfig])
    deadline = time.monotonic() + opts.timeout
    backing_off: dict[str, float] = {}  # container -> when its back-off was first seen
    for workload in opts.workloads:
        while True:
            out = kubectl(
                "-n", opts.namespace, "rollout", "status", workload,
                "--timeout", f"{TRY_SECONDS}s", seconds=TRY_SECONDS,
            )  # fmt: skip
            if out.returncode == 0:
                print(f"{workload}: ready")
                break
            now = time.monotonic()
            problems = image_problems(opts.namespace)
            for key, reason, text in problems:
                first = backing_off.setdefault(key, now)
                if reason in NEVER:
                    print(f"{workload}: a pod cannot get its image: {text}", file=sys.stderr)
                    return 1
                if now - first >= opts.pull_patience:
                    print(
                        f"{workload}: a pod could not pull its image for {now - first:.0f} s: "
                        f"{text}",
                        file=sys.stderr,
                    )
                    return 1
            for key in set(backing_off) - {key for key, _, _ in problems}:
                del backing_off[key]  # pulled after all, or the pod is gone
            if now >= deadline:
                said = (out.stderr or out.stdout).strip().splitlines()
                print(
                    f"{workload}: not ready after {opts.timeout} s: "
                    f"{said[-1] if said else 'no answer'}",
                    file=sys.stderr,
                )
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
