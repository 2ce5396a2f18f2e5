"""report.xml: JUnit XML for CI systems — one testcase per SLO and one per fault, per experiment.

A CI server shows each SLO as a test: `failure` when it failed (measured vs objective in the message),
`skipped` is never used for an inconclusive SLO (it is a failure: not proven is not passed), `error`
when the run itself broke (a fault without evidence, an abort).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from resilience.model import RunReport, Verdict


def _suite(report: RunReport) -> ET.Element:
    name = Path(report.experiment_path).stem or report.title
    suite = ET.Element("testsuite", name=name, timestamp=_iso(report.started_at))
    suite.set("time", f"{max(0.0, report.ended_at - report.started_at):.3f}")
    failures = errors = tests = 0
    for r in report.slos:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=name, name=f"SLO {r.name}: {r.objective}")
        detail = f"measured {r.measured_text} vs {r.objective} over {r.samples} requests; {r.detail}"
        if r.confidence is not None:
            detail += f"; confidence {r.confidence:.1%}"
        if r.verdict is not Verdict.PASS:
            failures += 1
            kind = "inconclusive" if r.verdict is Verdict.INCONCLUSIVE else "slo-failed"
            ET.SubElement(case, "failure", message=f"{r.verdict.value}: {detail}", type=kind).text = detail
        ET.SubElement(case, "system-out").text = detail
    for f in report.faults:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=name, name=f"fault {f.kind.value}: {f.target}")
        if not f.landed:
            errors += 1
            ET.SubElement(case, "error", message=f"no evidence it landed: {f.error}", type="fault-not-landed")
        ET.SubElement(case, "system-out").text = ", ".join(f"{k}={v}" for k, v in f.evidence.items())
    if report.exit_code not in (0, 1) or not (report.slos or report.faults):
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=name, name="run")
        errors += 1
        ET.SubElement(case, "error", message="; ".join(report.reasons) or report.status.value, type=report.status.value)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return suite


def _iso(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def to_junit(reports: Sequence[RunReport]) -> str:
    root = ET.Element("testsuites", name="resilience")
    for report in reports:
        root.append(_suite(report))
    for attr in ("tests", "failures", "errors"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(reports: Sequence[RunReport], path: Path) -> None:
    path.write_text(to_junit(reports))
