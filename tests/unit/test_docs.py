"""The documentation tells the truth about the CLI, the experiment files and itself.

- Every `resilience ...` command in README.md and docs/*.md parses: `--help` appended exits 0 (inline code
  too), and a command in a code block also parses without `--help` (its options, values and arguments).
- Every experiment file the docs show or link validates, and the guide shows docs/examples/minimal.yaml
  exactly as it is on disk.
- Every relative link points at an existing file, and an anchor at an existing heading; every repository
  path written as code (`probes/slos.yaml`) exists.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from resilience.cli.main import cli
from resilience.engine.experiment import load_experiment
from resilience.engine.suite import is_suite, load_suite

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

GLOBAL_FLAGS = {"-q", "--quiet", "-v", "-vv", "-vvv", "--verbose"}
"""Options of the `resilience` group itself, accepted anywhere on the line (see `_Group` in cli/main.py)."""

NOT_PARSED_WITHOUT_HELP = {
    "resilience platform up --config /tmp/bad-canary-platform.yaml": "the config file is written by the line before",
}
"""Commands that only get the `--help` check, with the reason (a value click checks that cannot exist here)."""

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(resilience [^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`\n]+`")
REPO_PATH = re.compile(
    r"`((?:experiments|probes|tests|resilience|reference_platform|benchmarks|docs|\.github|\.ci)/[\w./-]*)`"
)
EXPERIMENT_PATH = re.compile(r"(?:experiments|docs/examples)/[\w.-]+\.ya?ml")


def _argv(line: str) -> list[str] | None:
    """The arguments after `resilience` on a shell line, or None when the line runs something else.

    Drops a `$ ` prompt, `VAR=value` prefixes, `sudo` and a path to the executable; a trailing `# comment`
    and whatever follows a shell operator (`> suite.json`, `| jq`, `&& ...`); and the brackets of optional
    groups (`[--regions 2]` is shown as given)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(itertools.takewhile(lambda w: not set(w) <= set(lexer.punctuation_chars), lexer))
    except ValueError:
        return None
    while words and (words[0] in ("$", "sudo") or re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0])):
        words = words[1:]
    if not words or Path(words[0]).name != "resilience" or words[0].endswith("/"):
        return None
    return [w for w in (word.strip("[]") for word in words[1:]) if w]


def _block_commands(text: str) -> list[str]:
    commands = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            if _argv(line) is not None:
                commands.append(re.sub(r"\s+#.*$", "", line).strip())
    return commands


def _inline_commands(text: str) -> list[str]:
    return [m for m in INLINE.findall(FENCE.sub("", text)) if _argv(m) is not None]


def _cases(kind: str) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        commands = _block_commands(text) if kind == "block" else _inline_commands(text)
        found += [(doc.relative_to(ROOT).as_posix(), c) for c in dict.fromkeys(commands)]
    return found


BLOCK = _cases("block")
INLINE_ONLY = [case for case in _cases("inline") if case not in BLOCK]


def _help_exit_code(argv: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*argv, "--help"])
    return result.exit_code, result.output


def _parse(argv: list[str]) -> None:
    """Parse like click would, without running anything: resolve the subcommands, then make the leaf's context
    (options, their types and ranges, required arguments, no extra arguments). Raises click.UsageError."""
    args = [a for a in argv if a not in GLOBAL_FLAGS]
    command: click.Command = cli
    ctx = click.Context(cli, info_name="resilience")
    while isinstance(command, click.Group):
        if not args:
            raise click.UsageError(f"{ctx.command_path}: a subcommand is missing")
        name, args = args[0], args[1:]
        sub = command.get_command(ctx, name)
        if sub is None:
            raise click.UsageError(f"{ctx.command_path}: no command {name!r}")
        command = sub
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=name, parent=ctx)
    command.make_context(name, args, parent=ctx)


def test_the_docs_show_commands_and_the_extraction_finds_them() -> None:
    assert len(BLOCK) >= 30, BLOCK
    shown = {c for _, c in BLOCK}
    assert "resilience recover" in shown and any(c.startswith("resilience gate ") for c in shown)
    assert _argv("RESILIENCE_STATE_DIR=/x resilience run -q e.yaml  # why") == ["run", "-q", "e.yaml"]
    assert _argv("resilience suite s.yaml --json > suite.json") == ["suite", "s.yaml", "--json"]
    assert _argv("resilience/   the toolkit") is None and _argv("chaos run e.yaml") is None


@pytest.mark.parametrize(("doc", "command"), BLOCK + INLINE_ONLY, ids=lambda v: str(v)[:90])
def test_every_command_the_docs_show_exists_with_its_options(doc: str, command: str) -> None:
    argv = _argv(command)
    assert argv is not None
    code, output = _help_exit_code(argv)
    assert code == 0, f"{doc}: `{command}` --help exited {code}:\n{output}"
    assert "Usage:" in output


@pytest.mark.parametrize(("doc", "command"), BLOCK, ids=lambda v: str(v)[:90])
def test_every_command_in_a_code_block_parses_as_written(doc: str, command: str) -> None:
    if command in NOT_PARSED_WITHOUT_HELP:
        pytest.skip(NOT_PARSED_WITHOUT_HELP[command])
    argv = _argv(command)
    assert argv is not None
    try:
        _parse(argv)
    except click.UsageError as exc:
        pytest.fail(f"{doc}: `{command}` does not parse: {exc.format_message()}")


def test_a_made_up_command_or_option_fails_both_checks() -> None:
    for made_up in (["platform", "restart"], ["run", "--no-such-option", "x.yaml"], ["nonsense"]):
        assert _help_exit_code(made_up)[0] != 0, made_up
        with pytest.raises(click.UsageError):
            _parse(made_up)
    for wrong in (["run"], ["recover", "extra"], ["platform", "up", "--replicas", "99"]):
        with pytest.raises(click.UsageError):
            _parse(wrong)
    _parse(["run", "-q", "experiments/pod-kill.yaml", "--report-dir", "r"])  # -q after the command is fine


def _shown_experiments() -> list[Path]:
    named = {ROOT / m for doc in DOCS for m in EXPERIMENT_PATH.findall(doc.read_text())}
    files = {*(ROOT / "experiments").glob("*.yaml"), *(ROOT / "docs" / "examples").glob("*.yaml")}
    return sorted(named | files)


@pytest.mark.parametrize("path", _shown_experiments(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_experiment_the_docs_show_or_link_validates(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the docs run them from the project root
    monkeypatch.delenv("RESILIENCE_SLO_CATALOGUE", raising=False)
    assert path.is_file(), f"the docs name {path.relative_to(ROOT)}, which does not exist"
    if is_suite(path):
        assert load_suite(path).experiments
    else:
        experiment, catalogue = load_experiment(path)
        assert experiment["title"] and catalogue


def test_the_guide_shows_the_minimal_example_exactly_as_it_is_on_disk() -> None:
    guide = (ROOT / "docs" / "writing-experiments.md").read_text()
    example = (ROOT / "docs" / "examples" / "minimal.yaml").read_text()
    assert example in FENCE.findall(guide)
    assert "examples/minimal.yaml" in guide


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped, spaces to `-`."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    text = FENCE.sub("", doc.read_text())
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def _prose(doc: Path) -> str:
    """The text outside code blocks, code spans blanked (a link's text may be code: [`x`](y))."""
    return CODE_SPAN.sub("x", FENCE.sub("", doc.read_text()))


def _links() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for target in LINK.findall(_prose(doc)):
            if not re.match(r"[a-z]+:", target):
                found.append((doc.relative_to(ROOT).as_posix(), target))
    return found


def test_the_docs_link_each_other() -> None:
    links = _links()
    assert len(links) >= 40
    linked = {(ROOT / doc).parent.joinpath(t.split("#")[0]).resolve() for doc, t in links if not t.startswith("#")}
    assert {p.resolve() for p in DOCS} - linked <= {(ROOT / "README.md").resolve()}  # every page is reachable
    assert _slug("report.json (schema_version 1)") == "reportjson-schema_version-1"
    assert _slug("Recovery after kill -9") == "recovery-after-kill--9"


@pytest.mark.parametrize(("doc", "target"), _links(), ids=lambda v: str(v)[:90])
def test_every_relative_link_points_at_something_that_exists(doc: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (ROOT / doc).parent / path if path else ROOT / doc
    assert file.exists(), f"{doc}: link {target} -> {file} does not exist"
    if anchor and file.suffix == ".md":
        assert anchor in _anchors(file), f"{doc}: link {target}: no heading with anchor #{anchor} in {path or doc}"


def test_every_repository_path_the_docs_name_exists() -> None:
    named = {
        (doc.relative_to(ROOT).as_posix(), p) for doc in DOCS for p in REPO_PATH.findall(FENCE.sub("", doc.read_text()))
    }
    assert len(named) >= 20
    missing = sorted((doc, p) for doc, p in named if not (ROOT / p).exists())
    assert not missing, f"the docs name files that do not exist: {missing}"
