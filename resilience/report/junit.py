"""report.xml: JUnit XML for CI systems — one testcase per SLO and one per fault, per experiment.

A CI server shows each SLO as a test: `failure` when it failed (measured vs objective in the message),
`skipped` is never used for an inconclusive SLO (it is a failure: not proven is not passed), `error`
when the run itself broke (a fault without evidence, an abort). Every run also has a `run` testcase that
carries the run's own verdict (failure for exit 1, error for anything but 0 and 1), and a suite one more
testsuite for the suite's verdict (e.g. the gate's regressions), so report.xml fails exactly when the exit
code does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from resilience.model import ExitCode, RunReport, SuiteReport, Verdict


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
    failed, broke = _verdict_case(suite, name, "run", report.exit_code, report.reasons, report.status.value)
    tests, failures, errors = tests + 1, failures + failed, errors + broke
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return suite


def _verdict_case(
    parent: ET.Element, classname: str, name: str, code: ExitCode, reasons: Sequence[str], kind: str
) -> tuple[int, int]:
    """A testcase for a verdict as a whole: (failures, errors) it adds."""
    case = ET.SubElement(parent, "testcase", classname=classname, name=name)
    message = "; ".join(reasons) or kind
    if code == ExitCode.OK:
        return 0, 0
    if code == ExitCode.SLO_FAILED:
        ET.SubElement(case, "failure", message=message, type=kind).text = "\n".join(reasons)
        return 1, 0
    ET.SubElement(case, "error", message=message, type=kind).text = "\n".join(reasons)
    return 0, 1


def _suite_verdict(suite: SuiteReport) -> ET.Element:
    name = f"suite {suite.name}"
    element = ET.Element("testsuite", name=name)
    reasons = suite.suite_reasons or suite.reasons
    failed, broke = _verdict_case(element, name, "verdict", suite.exit_code, reasons, f"exit {int(suite.exit_code)}")
    element.set("tests", "1")
    element.set("failures", str(failed))
    element.set("errors", str(broke))
    return element


def _iso(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def to_junit(reports: Sequence[RunReport], suite: SuiteReport | None = None) -> str:
    root = ET.Element("testsuites", name="resilience")
    for report in reports:
        root.append(_suite(report))
    if suite is not None:
        root.append(_suite_verdict(suite))
    for attr in ("tests", "failures", "errors"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(reports: Sequence[RunReport], path: Path, suite: SuiteReport | None = None) -> None:
    path.write_text(to_junit(reports, suite))
