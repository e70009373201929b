"""The OpenSearch image's entry script takes Elasticsearch's container conventions:
dotted environment variables become settings (xpack.* skipped), ES_JAVA_OPTS sizes
the heap, our defaults only where the environment names none. A stand-in `java`
prints the arguments it was given (the real server runs in the e2e lab)."""

import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import pytest


@pytest.fixture
def fake():
    # not under pytest's 0700 tmp directory: uid 1000 must reach the stand-in java
    root = Path(tempfile.mkdtemp(prefix="provision-opensearch-"))
    (root / "bin").mkdir()
    java = root / "bin" / "java"
    java.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
    java.chmod(0o755)
    (root / "home" / "config").mkdir(parents=True)
    for p in (root, root / "bin"):
        p.chmod(0o755)
    yield root
    shutil.rmtree(root)


def run(fake, **env) -> tuple[list[str], str]:
    script = resources.files("provision.addons.elk").joinpath("provision-opensearch")
    out = subprocess.run(
        ["sh", str(script)],
        env={
            "PATH": f"{fake / 'bin'}:/usr/bin:/bin",
            "OPENSEARCH_HOME": str(fake / "home"),
            "OPENSEARCH_DATA": str(fake / "es" / "data"),
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
        cwd=fake,
    )
    return out.stdout.splitlines(), out.stderr


def settings(args: list[str]) -> dict[str, str]:
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-E")


def test_dotted_variables_become_settings_and_xpack_is_skipped(fake):
    args, err = run(
        fake,
        **{"cluster.name": "lab two", "xpack.security.enabled": "false", "http.port": "9201"},
    )
    assert settings(args) == {
        "cluster.name": "lab two",
        "http.port": "9201",
        "network.host": "0.0.0.0",
        "http.compression": "false",
        "path.data": str(fake / "es" / "data"),
        "path.logs": str(fake / "es" / "logs"),
    }
    assert "skipping xpack.security.enabled" in err
    assert args[-1 - 2 * len(settings(args))] == "org.opensearch.bootstrap.OpenSearch"


def test_heap_from_es_java_opts(fake):
    args, _ = run(fake, ES_JAVA_OPTS="-Xms300m -Xmx300m")
    assert "-Xms300m" in args and "-Xmx300m" in args
    args, _ = run(fake)
    assert "-Xms512m" in args


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to uid 1000 only when started as root")
def test_as_root_the_data_directory_is_handed_to_uid_1000(fake):
    run(fake)
    assert (fake / "es" / "data").stat().st_uid == 1000
