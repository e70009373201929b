"""Each report compared with the nights before: versions and image digests that
changed, phases and checks newly failing or fixed, each phase against its median; the
summary opens with the verdict and that diff; a damaged old report is skipped with a
note, never an error."""

from __future__ import annotations

import json
import os
import shutil

from provision.report.build import PhaseReport, Report
from provision.report.compare import compare
from provision.report.write import write_report
from provision.verify.run import Result
from tests.unit.test_report import report


def stamp(day: int) -> str:
    return f"202611{day:02d}T020000.000000Z"


def night(reports, day: int, run: Report | None = None) -> Report:
    """A rebuild's report written as Rebuild.run writes it: compared, then written."""
    run = run or report()
    run.started = f"2026-11-{day:02d}T02:00:00+00:00"
    run.compare = compare(run.as_dict(), reports, stamp(day))
    write_report(run, reports, stamp(day))
    return run


def opening(reports, day: int) -> list[str]:
    return (reports / stamp(day) / "summary.txt").read_text().splitlines()


def test_the_first_run_has_nothing_to_compare_with(tmp_path):
    night(tmp_path, 1)
    assert opening(tmp_path, 1)[:2] == [
        "PASSED: provision rebuild of lab (inventories/lab/cluster.yml) in 360 s, "
        "started 2026-11-01T02:00:00+00:00",
        "first run: nothing to compare with",
    ]


def test_a_night_like_the_last_says_no_change(tmp_path):
    night(tmp_path, 1)
    night(tmp_path, 2)
    assert opening(tmp_path, 2)[1:3] == [
        f"no change since the last run ({stamp(1)}, passed; compared versions only)",
        "the last run was the last green one",
    ]
    data = json.loads((tmp_path / stamp(2) / "report.json").read_text())
    assert data["compare"]["previous"]["against"] == stamp(1)
    assert data["compare"]["previous"]["versions"] == []


def test_versions_and_checks_against_the_last_run_and_the_last_green_one(tmp_path):
    night(tmp_path, 1)  # green
    broken = report(passed=False)
    broken.checks[0] = Result("mysql", "create, insert, select", "failed", "refused", 1.0)
    night(tmp_path, 2, broken)
    now = report()
    now.versions = {"kubernetes": "1.35.5", "calico": "3.31.0"}
    now.checks.append(Result("zipkin", "accept a span", "failed", "no trace", 3.0))
    night(tmp_path, 3, now)
    lines = opening(tmp_path, 3)
    assert lines[0].startswith("FAILED: provision rebuild of lab")
    assert lines[1] == (
        f"since the last run ({stamp(2)}, FAILED; compared versions only): "
        "calico (none) -> 3.31.0; kubernetes 1.35.4 -> 1.35.5; "
        "newly failing: check zipkin: accept a span; "
        "fixed: phase join, check mysql: create, insert, select"
    )
    assert lines[2] == (
        f"since the last green run ({stamp(1)}, passed): calico (none) -> 3.31.0; "
        "kubernetes 1.35.4 -> 1.35.5; newly failing: check zipkin: accept a span"
    )
    assert "check failed: zipkin: accept a span: no trace" in lines


def test_image_digests_are_compared_when_both_runs_recorded_them(tmp_path):
    old = report()
    old.images = {"registry.k8s.io/pause:3.10": "sha256:" + "a" * 64,
                  "docker.io/library/mysql:8.4.3": "sha256:" + "b" * 64}  # fmt: skip
    night(tmp_path, 1, old)
    new = report()
    new.images = {"registry.k8s.io/pause:3.10": "sha256:" + "a" * 64,
                  "docker.io/library/mysql:8.4.4": "sha256:" + "c" * 64}  # fmt: skip
    night(tmp_path, 2, new)
    assert opening(tmp_path, 2)[1] == (
        f"since the last run ({stamp(1)}, passed; compared versions and image digests): "
        f"image docker.io/library/mysql 8.4.3 sha256:{'b' * 12} -> 8.4.4 sha256:{'c' * 12}"
    )
    # one side without digests (images pulled online): versions only, and it says so
    night(tmp_path, 3)
    assert opening(tmp_path, 3)[1] == (
        f"no change since the last run ({stamp(2)}, passed; compared versions only)"
    )


def with_join(seconds: float) -> Report:
    run = report()
    run.phases[2] = PhaseReport("join", "done", seconds=seconds)
    run.phases.append(PhaseReport("drill-compare", "done", seconds=seconds / 4))
    return run


def test_a_phase_far_past_its_median_is_flagged(tmp_path):
    for day, seconds in enumerate((40.0, 42.0, 38.0, 400.0, 41.0), 1):
        night(tmp_path, day, with_join(seconds))
    night(tmp_path, 6, with_join(95.0))  # median 41 s: 2.3 times, 54 s more
    data = json.loads((tmp_path / stamp(6) / "report.json").read_text())
    join = next(p for p in data["compare"]["phases"] if p["name"] == "join")
    assert join == {"name": "join", "seconds": 95.0, "median": 41.0, "runs": 5, "slow": True}
    assert "slower than usual: join 95 s (median 41 s of 5 runs)" in opening(tmp_path, 6)
    # 1.5 times its median but under 30 s (the drill's compare, 24 s): not flagged
    assert not next(p for p in data["compare"]["phases"] if p["name"] == "drill-compare")["slow"]
    night(tmp_path, 7, with_join(60.0))  # over 30 s, but not 1.5 times the median
    assert not any(line.startswith("slower") for line in opening(tmp_path, 7))


def test_too_few_runs_give_no_median(tmp_path):
    night(tmp_path, 1, with_join(10.0))
    night(tmp_path, 2, with_join(10.0))
    night(tmp_path, 3, with_join(500.0))
    data = json.loads((tmp_path / stamp(3) / "report.json").read_text())
    assert {p["median"] for p in data["compare"]["phases"]} == {None}
    assert not any(p["slow"] for p in data["compare"]["phases"])


def test_a_damaged_report_is_skipped_with_a_note(tmp_path):
    night(tmp_path, 1)
    night(tmp_path, 2)
    night(tmp_path, 3, report(passed=False))
    (tmp_path / stamp(3) / "report.json").write_text("{ torn")
    (tmp_path / stamp(2) / "report.json").write_text(json.dumps({"passed": "yes"}))
    now = report()
    now.versions = {"kubernetes": "1.36.0"}
    night(tmp_path, 4, now)
    lines = opening(tmp_path, 4)
    assert lines[1] == (
        f"since the last run ({stamp(1)}, passed; compared versions only): "
        "kubernetes 1.35.4 -> 1.36.0"
    )
    assert lines[2] == "the last run was the last green one"
    assert lines[3].startswith(f"note: skipped {stamp(3)}: an earlier rebuild's report ")
    assert "not valid JSON" in lines[3]
    assert lines[4] == (
        f"note: skipped {stamp(2)}: its report.json is not a rebuild's report "
        "(passed, started, versions, phases, checks)"
    )


def test_links_fifos_and_missing_reports_are_skipped_never_followed(tmp_path):
    for day in (1, 2, 3, 4):
        night(tmp_path, day)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / stamp(3), elsewhere)
    shutil.rmtree(tmp_path / stamp(3))
    (tmp_path / stamp(3)).symlink_to(elsewhere)
    (tmp_path / stamp(4) / "report.json").unlink()
    os.mkfifo(tmp_path / stamp(4) / "report.json")  # never opened for a writer to come
    shutil.rmtree(tmp_path / stamp(2))
    history = tmp_path / "history.jsonl"
    line = json.loads(history.read_text().splitlines()[0])
    history.write_text(history.read_text() + json.dumps({**line, "report": "../x"}) + "\n")
    run = report()
    run.compare = compare(run.as_dict(), tmp_path, stamp(5))
    assert run.compare.previous.against == stamp(1)
    assert run.compare.notes == [
        "skipped a history line naming '../x': not a report's name",
        f"skipped {stamp(4)}: an earlier rebuild's report {tmp_path / stamp(4) / 'report.json'}"
        ": it is a FIFO, not a regular file",
        f"skipped {stamp(3)}: {tmp_path / stamp(3)} is not a directory (links are not followed)",
        f"skipped {stamp(2)}: its report is gone (older reports are removed)",
    ]


def test_an_unreadable_history_leaves_the_report_written(tmp_path):
    night(tmp_path, 1)
    (tmp_path / "history.jsonl").write_text("not json\n")
    run = report()
    run.compare = compare(run.as_dict(), tmp_path, stamp(2))
    assert run.compare.previous is None
    assert run.compare.lines()[0] == "no earlier report could be read: nothing compared"
    assert run.compare.notes[0].startswith("nothing compared: the rebuild history ")


def test_images_recorded_from_the_bundle_manifest(lab, write_config, tmp_path):
    from types import SimpleNamespace

    from provision.bundle.manifest import Artifact, write_manifest
    from provision.config import load
    from provision.rebuild import Rebuild

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    lab["artifacts"] = {**lab.get("artifacts", {}), "source": "bundle", "bundle_dir": str(bundle)}
    config = load(write_config(lab))
    k8s = config.versions.kubernetes
    write_manifest(bundle, k8s, [
        Artifact("kubeadm", "binary", "bin/kubeadm", k8s, "1" * 64),
        Artifact("registry.k8s.io/pause:3.10", "image", "images/pause.tar", "3.10", "2" * 64),
        Artifact(lab["addons"]["images"]["zipkin"], "addon-image", "images/addons/z.tar",
                 "3.5.1", "3" * 64),
    ])  # fmt: skip
    rebuild = Rebuild(SimpleNamespace(), config, SimpleNamespace())
    images, source = rebuild._images()
    # the lab's addons.images references the manifest lacks are what the lab ran too
    from provision.rebuild import NOT_IN_BUNDLE

    zipkin = lab["addons"]["images"]["zipkin"]
    assert images == {"registry.k8s.io/pause:3.10": "sha256:" + "2" * 64} | {
        ref: NOT_IN_BUNDLE for ref in lab["addons"]["images"].values() if ref != zipkin
    } | {zipkin: "sha256:" + "3" * 64}
    assert source == f"sha256 of each image archive in {bundle / 'manifest.json'}"
    (bundle / "manifest.json").write_text("[]")
    assert rebuild._images() == ({}, rebuild._images()[1])
    assert rebuild._images()[1].startswith("not recorded: bundle manifest ")
    lab["artifacts"]["source"] = "online"
    online = Rebuild(SimpleNamespace(), load(write_config(lab)), SimpleNamespace())
    assert online._images() == ({}, "not recorded: the nodes pulled their images online")
