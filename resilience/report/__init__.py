"""Reports: render a `RunReport` into each format. No computation here, only presentation."""

from resilience.report.console import render_console, render_suite_console
from resilience.report.html import render_html, write_html
from resilience.report.json_report import SCHEMA_VERSION, suite_to_dict, to_dict, write_json, write_suite_json
from resilience.report.junit import to_junit, write_junit
from resilience.report.markdown import suite_header, to_markdown, write_markdown
from resilience.report.platform import capacity_line, render_plan, render_status

__all__ = [
    "SCHEMA_VERSION",
    "capacity_line",
    "render_console",
    "render_html",
    "render_plan",
    "render_status",
    "render_suite_console",
    "suite_header",
    "suite_to_dict",
    "to_dict",
    "to_junit",
    "to_markdown",
    "write_html",
    "write_json",
    "write_junit",
    "write_markdown",
    "write_suite_json",
]
