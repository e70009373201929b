"""What provision deletes or writes on this host: a bundle directory is replaced only
when it is ours or empty; private files are 0600 whatever was there before; and
templates cannot write a config string unescaped."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from provision.addons.secrets import write_private
from provision.bundle.manifest import check_replaceable, staging, swap_in
from provision.errors import BundleError
from provision.templates import RawInterpolation, Token, finalize, to_yaml

OURS = {"format": 1, "kubernetes": "1.35.4", "artifacts": []}


def bundle_of_ours(path):
    (path / "bin").mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps(OURS))
    return path


def test_missing_empty_and_our_bundle_may_be_replaced(tmp_path):
    check_replaceable(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty")
    check_replaceable(bundle_of_ours(tmp_path / "ours"))


def test_a_bundle_with_a_second_release_may_be_replaced(tmp_path):
    """`bundle build --also` puts another release's binaries under releases/<v>/bin; a
    later plain build replaces that bundle (CI's cache held one and was refused)."""
    ours = bundle_of_ours(tmp_path / "ours")
    (ours / "releases" / "1.34.4" / "bin").mkdir(parents=True)
    check_replaceable(ours)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda p: (p.mkdir(), (p / "thesis.tex").write_text("years of work")),
            "no bundle manifest",
        ),
        (lambda p: (p.mkdir(), (p / "manifest.json").write_text("{}")), "no bundle manifest"),
        (lambda p: (p.mkdir(), (p / "manifest.json").write_text("[1]")), "no bundle manifest"),
        (lambda p: p.write_text("a file"), "not a directory"),
        (
            lambda p: (bundle_of_ours(p), (p / "notes.txt").write_text("mine")),
            "besides the bundle it holds notes.txt",
        ),
        (lambda p: (p.parent.joinpath("real").mkdir(), p.symlink_to(p.parent / "real")), "symlink"),
    ],
    ids=["foreign-files", "other-manifest", "manifest-not-object", "a-file", "extra-files", "link"],
)
def test_anything_else_is_refused(tmp_path, make, words):
    target = tmp_path / "bundle"
    make(target)
    with pytest.raises(BundleError, match=words):
        check_replaceable(target)


@pytest.mark.parametrize("path", ["/", "/etc", "/usr/local", "/home"])
def test_system_directories_and_the_root_are_refused(path):
    with pytest.raises(BundleError, match="will not replace"):
        check_replaceable(__import__("pathlib").Path(path))


def test_home_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BundleError, match="home directory"):
        check_replaceable(tmp_path)


def test_staging_refuses_before_any_work_and_keeps_the_files(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(BundleError), staging(target, "build", print):
        raise AssertionError("no work starts")
    assert (target / "thesis.tex").read_text() == "years of work"


def test_swap_checks_again_at_the_end(tmp_path):
    """A long build: the directory may have been filled meanwhile; it is still kept."""
    target = tmp_path / "bundle"
    with staging(target, "build", print) as stage:
        out = stage / "bundle"
        bundle_of_ours(out)
        target.mkdir()
        (target / "photos").mkdir()
        with pytest.raises(BundleError):
            swap_in(out, target, stage)
    assert (target / "photos").is_dir()


# --- private files -----------------------------------------------------------------------


@pytest.mark.parametrize("stale_mode", [0o644, 0o666, 0o000])
def test_private_file_is_0600_over_a_stale_temp_file(tmp_path, stale_mode):
    path = tmp_path / "secrets.yaml"
    stale = tmp_path / ".secrets.yaml.tmp"
    stale.write_text("left by a killed run")
    stale.chmod(stale_mode)
    write_private(path, "password: x\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "password: x\n"
    assert not stale.exists()


def test_private_file_does_not_follow_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("unchanged")
    (tmp_path / ".secrets.yaml.tmp").symlink_to(victim)
    write_private(tmp_path / "secrets.yaml", "password: x\n")
    assert victim.read_text() == "unchanged"
    assert stat.S_IMODE((tmp_path / "secrets.yaml").stat().st_mode) == 0o600


def test_private_file_is_0600_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        write_private(tmp_path / "s", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o600


# --- templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["plain", "a\nb: c", "'\"", "- x", "# c", "true", "null", "1.5", "x\x7f\x85\u2028", "é😀", ""],
)
def test_yaml_filter_round_trips_any_string(value):
    text = f"key: {to_yaml(value)}\nother: 1\n"
    assert yaml.safe_load(text) == {"key": value, "other": 1}


@pytest.mark.parametrize("value", ["raw config text", True, None, ["a"], {"a": 1}, 1.5])
def test_raw_interpolation_is_refused(value):
    with pytest.raises(RawInterpolation, match="yaml"):
        finalize(value)


def test_every_template_refuses_a_raw_string():
    from provision.templates import environment

    env = environment("templates")
    with pytest.raises(RawInterpolation):
        env.from_string("name: {{ name }}\n").render(name="lab\ninjected: true")
    assert env.from_string("name: {{ name | yaml }}\n").render(name="a\nb") == 'name: "a\\nb"\n'


def test_tokens_are_only_plain_words():
    assert Token("cluster.local") == "cluster.local"
    for bad in ["a b", "x\ny", "-x", "'q'", "a: b", "#c", ""]:
        with pytest.raises(ValueError):
            Token(bad)


def test_staging_leaves_lookalikes_of_its_leftovers_alone(tmp_path):
    bundle = tmp_path / "bundle"
    ours = tmp_path / ".bundle-build-killed"
    (ours / "work").mkdir(parents=True)
    theirs = tmp_path / ".bundle-build-notes"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with staging(bundle, "fetch", print):
        pass
    assert not ours.exists()
    assert (theirs / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "where",
    ["/etc/hostname", "../outside", "bin/../../outside", "link-out/file"],
    ids=["absolute", "dotdot", "dotdot-inside", "symlink-out"],
)
def test_bundle_check_reads_only_inside_the_bundle(tmp_path, where):
    """A manifest naming a file outside the bundle is damage, whatever that file's sum."""
    from provision.bundle.manifest import Artifact, sha256_of, verify

    bundle = tmp_path / "bundle"
    (bundle / "bin").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("x")
    (tmp_path / "outside-file").write_text("x")
    (bundle / "link-out").symlink_to(outside)
    target = Path(where) if where.startswith("/") else bundle / where
    digest = sha256_of(target) if target.is_file() else "0" * 64
    with pytest.raises(BundleError, match="not a path inside the bundle"):
        verify(bundle, [Artifact("x", "binary", where, "1", digest)])


def test_bundle_check_passes_a_file_inside(tmp_path):
    from provision.bundle.manifest import Artifact, sha256_of, verify

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kubeadm").write_text("k")
    verify(
        tmp_path,
        [
            Artifact(
                "kubeadm", "binary", "bin/kubeadm", "1", sha256_of(tmp_path / "bin" / "kubeadm")
            )
        ],
    )
