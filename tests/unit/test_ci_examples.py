"""The CI examples in examples/, checked by the tools their CI systems use and their
steps run for real. The GitHub workflow passes actionlint, with ShellCheck on each
step's script; the Jenkinsfile is read by Groovy itself, through a stub of the
declarative DSL that records its `sh` steps (tests/unit/data/record_jenkinsfile.groovy).
Then each example's rebuild step and its report-collecting step run in a workspace
of their own, in the shell their CI runs them with, around a real failed rebuild (the
lab's existing hosts on a port where nothing listens, as in test_rebuild_failure.py):
the rebuild step fails with provision's exit 8, and the collecting step puts that
night's report, JUnit file and history where the example publishes them from.

actionlint is built from its Go module and Groovy taken from Maven Central (the
host's own Go and Maven settings), once, into the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provision.project import xdg_dir
from tests.conftest import ROOT, as_existing_hosts
from tests.unit.test_rebuild_failure import HOST, closed_port

EXAMPLES = ROOT / "examples"
ACTIONLINT = "v1.7.12"
GROOVY = "4.0.33"
TOOLS = xdg_dir("XDG_CACHE_HOME", Path.home() / ".cache") / "provision" / "test-tools"


def actionlint() -> Path:
    path = TOOLS / f"actionlint-{ACTIONLINT}" / "actionlint"
    if not path.is_file():
        subprocess.run(
            ["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT}"],
            env={**os.environ, "GOBIN": str(path.parent)},
            check=True,
            timeout=600,
        )
    return path


def groovy_jar() -> Path:
    folder = TOOLS / f"groovy-{GROOVY}"
    jar = folder / f"groovy-{GROOVY}.jar"
    if not jar.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mvn", "-B", "-q", "--strict-checksums", "dependency:copy",
             f"-Dartifact=org.apache.groovy:groovy:{GROOVY}", f"-DoutputDirectory={folder}"],
            cwd=folder, check=True, timeout=600,
        )  # fmt: skip
    return jar


@pytest.fixture
def failing_night(lab, write_config, tmp_path, monkeypatch):
    """(workspace, environment) for a CI step: a workspace with the checkout's tracked
    files, whose .venv is this test's Python environment (provision installed, as the
    examples' install step does),
    and INVENTORY naming a lab whose rebuild fails in its machines phase."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    as_existing_hosts(lab, tmp_path, HOST, closed_port())
    config = write_config(lab)
    ws = tmp_path / "ws"  # the checkout the CI system makes: the tracked files
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (ws / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, ws / name)
    (ws / ".venv").symlink_to(Path(sys.prefix))
    return ws, {**os.environ, "INVENTORY": str(config), "XDG_STATE_HOME": str(state)}


def step(scripts: list[str], words: str) -> str:
    (found,) = [s for s in scripts if words in s]
    return found


def run_steps(ws: Path, env: dict, scripts: list[str], shell: list[str]):
    """The rebuild step then the collecting step, each as its CI runs it; their exit
    codes."""
    codes = []
    for n, words in enumerate(("provision rebuild", "mkdir reports")):
        script = ws.parent / f"step-{n}.sh"
        script.write_text(step(scripts, words))
        out = subprocess.run(
            [*shell, str(script)], cwd=ws, env=env, capture_output=True, text=True, timeout=300
        )
        codes.append(out.returncode)
        print(f"step {words!r}: exit {out.returncode}\n{out.stdout[-1500:]}{out.stderr[-1500:]}")
    return codes


def assert_collected(ws: Path) -> None:
    reports = ws / "reports"
    junit = (reports / "latest" / "junit.xml").read_text()
    assert "<failure" in junit
    assert "FAILED" in (reports / "latest" / "summary.txt").read_text()
    assert len((reports / "history.jsonl").read_text().splitlines()) == 1
    assert "<svg" in (reports / "history.html").read_text()


def test_the_github_workflow_passes_actionlint_with_shellcheck(tmp_path):
    config = tmp_path / "actionlint.yaml"
    config.write_text("self-hosted-runner:\n  labels: [provision-lab]\n")
    workflow = EXAMPLES / "github-actions-nightly.yml"
    out = subprocess.run(
        [str(actionlint()), "-config-file", str(config), "-shellcheck", "shellcheck",
         str(workflow)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_github_workflows_steps_collect_a_failed_nights_report(failing_night):
    ws, env = failing_night
    workflow = yaml.safe_load((EXAMPLES / "github-actions-nightly.yml").read_text())
    (job,) = workflow["jobs"].values()
    scripts = [s["run"] for s in job["steps"] if "run" in s]
    assert "pip install" in scripts[0] and "bundle check" in scripts[1]
    runner_temp = ws.parent / "runner-temp"
    runner_temp.mkdir()
    step_summary = runner_temp / "step-summary.md"  # what GitHub shows on the run's page
    env = {
        **env,
        **job.get("env", {}),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(step_summary),
    }
    env["INVENTORY"] = failing_night[1]["INVENTORY"]  # the failing lab, not `lab`
    # GitHub's own `bash` shell for a `run` step
    codes = run_steps(ws, env, scripts, ["bash", "--noprofile", "--norc", "-eo", "pipefail"])
    assert codes == [8, 0]
    assert_collected(ws)
    assert "FAILED: provision rebuild" in step_summary.read_text()


def test_the_jenkinsfile_is_groovy_and_its_steps_collect_a_failed_nights_report(
    failing_night, tmp_path
):
    ws, env = failing_night
    out = tmp_path / "recorded"
    out.mkdir()
    record = ROOT / "tests" / "unit" / "data" / "record_jenkinsfile.groovy"
    subprocess.run(
        ["java", "-cp", str(groovy_jar()), "groovy.ui.GroovyMain", str(record),
         str(EXAMPLES / "Jenkinsfile"), str(out)],
        check=True, timeout=120,
    )  # fmt: skip
    scripts = [(out / f"sh-{n}.sh").read_text() for n in range(len(list(out.glob("sh-*.sh"))))]
    assert "pip install" in scripts[0] and "bundle check" in scripts[1]
    assert "INVENTORY=lab" in (out / "env").read_text().splitlines()
    # Jenkins's `sh` step: the script in a file, run by `sh -xe`
    codes = run_steps(ws, env, scripts, ["sh", "-xe"])
    assert codes == [8, 0]
    assert_collected(ws)
