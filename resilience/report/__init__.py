"""Reports: render a `RunReport` into each format. No computation here, only presentation."""

from resilience.report.console import render_console
from resilience.report.json_report import SCHEMA_VERSION, to_dict, write_json

__all__ = ["SCHEMA_VERSION", "render_console", "to_dict", "write_json"]
