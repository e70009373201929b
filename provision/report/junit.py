"""JUnit XML of a rebuild: a test case per phase and per check, for CI systems; the
diagnostics archive, when there is one, as a property of the suite and a line of its
output."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from provision.report.build import Report


def junit_xml(report: Report) -> str:
    cases = []
    for p in report.phases:
        case = ET.Element("testcase", classname="phase", name=p.name, time=f"{p.seconds:.1f}")
        if p.status == "failed":
            ET.SubElement(case, "failure", message=p.error or "failed").text = p.error
        elif p.status != "done":
            ET.SubElement(case, "skipped", message=f"phase {p.status}")
        cases.append(case)
    for c in report.checks:
        case = ET.Element(
            "testcase", classname=f"verify.{c.addon}", name=c.check, time=f"{c.seconds:.1f}"
        )
        if c.status == "failed":
            ET.SubElement(case, "failure", message=c.detail[:200]).text = c.detail
        else:
            ET.SubElement(case, "system-out").text = f"{c.status}: {c.detail}"
        cases.append(case)
    suite = ET.Element(
        "testsuite",
        name=f"provision-rebuild-{report.cluster}",
        tests=str(len(cases)),
        failures=str(sum(1 for c in cases if c.find("failure") is not None)),
        skipped=str(sum(1 for c in cases if c.find("skipped") is not None)),
        time=f"{report.seconds:.1f}",
        timestamp=report.started,
    )
    if report.diagnostics:
        # the archive of logs and cluster state for this run: a property for CI systems
        # that show them, and a line of the suite's output for those that show only that
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="diagnostics", value=report.diagnostics)
    suite.extend(cases)
    if report.diagnostics:
        ET.SubElement(suite, "system-out").text = f"diagnostics: {report.diagnostics}"
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
