"""What the commands print: whole lines in logs and pipes, and a plan that names the
Docker and containerd that will really be installed."""

from __future__ import annotations

import os
import subprocess

import pytest
from click.testing import CliRunner

from provision.cli import cli
from tests.conftest import CLI, ROOT

LONG = "a-folder-whose-name-alone-is-longer-than-a-terminal-of-eighty-columns-would-hold"


def run(*args: str, tmp_path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"))
    out = subprocess.run(
        [str(CLI), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return out.stdout + out.stderr


@pytest.fixture
def deep_config(lab, tmp_path):
    import yaml

    path = tmp_path / LONG / "inv" / "cluster.yml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(lab, sort_keys=False))
    return path


def test_a_pipe_gets_whole_lines(deep_config, tmp_path):
    output = run("validate", "-i", str(deep_config), tmp_path=tmp_path)
    assert f"cluster lab ({deep_config})" in output.splitlines()[0]
    assert "config OK: 3 nodes, Kubernetes 1.35.4, add-ons: " in output


def test_a_run_log_line_is_not_broken(deep_config, tmp_path):
    """The banner (RunLog's console) on one line, path and all."""
    output = run("verify", "-i", str(deep_config), tmp_path=tmp_path)
    banner = output.splitlines()[0]
    assert banner.startswith(f"provision verify: cluster lab ({deep_config}); log ")
    assert banner.endswith("-verify/run.log")


def plan(lab, write_config, **runtime) -> str:
    lab["runtime"].update(runtime)
    result = CliRunner().invoke(cli, ["plan", "-i", str(write_config(lab))])
    assert result.exit_code == 0, result.output
    return result.output


def row(output: str, first_cell: str) -> str:
    return next(line for line in output.splitlines() if f"│ {first_cell} " in line)


def test_plan_names_debians_packages_for_the_distribution_source(lab, write_config):
    output = plan(lab, write_config, docker_source="distribution")
    assert "docker.io (Debian's version), containerd (Debian's version) on cp1, w1, w2" in row(
        output, "3"
    )
    assert "docker.io (Debian's version)" in row(output, "docker")
    assert "containerd (Debian's version)" in row(output, "containerd")
    assert lab["versions"]["docker"] not in output
    assert lab["versions"]["containerd"] not in output


def test_plan_names_the_pins_for_dockers_repository(lab, write_config):
    output = plan(lab, write_config, docker_source="upstream")
    docker, containerd = lab["versions"]["docker"], lab["versions"]["containerd"]
    assert f"docker-ce {docker}, containerd.io {containerd} on cp1" in row(output, "3")
    assert f"docker-ce {docker}" in row(output, "docker")
    assert "Debian" not in output


@pytest.mark.parametrize("bundle", [True, False], ids=["bundle", "online"])
def test_plan_follows_auto_to_where_the_artifacts_come_from(bundle, lab, write_config, tmp_path):
    directory = tmp_path / "bundle"
    directory.mkdir()
    if bundle:
        (directory / "manifest.json").write_text("{}")
    lab["artifacts"] = {"source": "auto", "bundle_dir": str(directory)}
    output = plan(lab, write_config, docker_source="auto")
    assert ("docker.io (Debian's version)" in row(output, "docker")) is bundle
    assert (f"docker-ce {lab['versions']['docker']}" in row(output, "docker")) is not bundle


def test_status_shows_zipkins_url_as_up_does():
    """A workload as the API server lists it gets the address `up` prints."""
    from provision.addons.values import web_urls
    from provision.status import addon_rows

    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "zipkin"},
        "spec": {"replicas": 1},
        "status": {"readyReplicas": 1},
    }
    (zipkin,) = addon_rows({"items": [deployment]}, "192.168.56.10")
    assert zipkin["ready"] == zipkin["wanted"] == 1
    assert (
        zipkin["url"] == "http://192.168.56.10:30008/zipkin/" == web_urls("192.168.56.10")["zipkin"]
    )
