"""Every example in README.md and docs/*.md runs, and its shown output is compared.

One pytest item per fenced block, named ``file:line`` (the line of the opening fence):

- ```` ```python ```` blocks with ``>>>`` prompts run as doctests (``ELLIPSIS`` and
  ``NORMALIZE_WHITESPACE``): the shown output is compared with what the code prints;
- other ```` ```python ```` blocks are executed with ``exec``;
- ```` ```console ```` blocks run their ``$ sim ...`` lines in-process; output shown after a
  command is compared the same way as a doctest's, or else (`numbers_match`) with the text
  matched exactly up to whitespace and ``...`` and every printed number within
  `NUMBER_RTOL`, so a transcript whose numbers went stale fails;
- a ```` ```bash ```` or ```` ```console ```` block preceded by ``<!-- run: sim ... -->`` runs
  the commands of that comment instead of its own (reduced sizes where the full size is slow;
  one command per line or separated by ``;``), each of which must exit with code 0.

Each block runs in a fresh namespace with the working directory in a temporary folder. A block
preceded by ``<!-- no-test: reason -->`` is collected and skipped with that reason, so every
opt-out shows in pytest's summary. The count of executed examples is printed at the end of the
session. The module also checks that every ``python`` fence was collected, that the dotted
``sim.*`` / ``theory.*`` names the docs cite exist, that relative links resolve, and that no
file of the repository refers to a path outside it.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>no-test|run)\s*:\s*(?P<body>.*?)\s*-->\s*$", re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    marker: tuple[str, str] | None  # ("no-test" | "run", body) from a preceding HTML comment

    @property
    def name(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path.as_posix()}:{self.line}"

    @property
    def kind(self) -> str | None:
        """How the block is executed: doctest, exec, shell, or None (not an example)."""
        if self.marker and self.marker[0] == "run":
            return "shell"
        if self.lang == "python":
            return "doctest" if re.search(r"^\s*>>>", self.source, re.M) else "exec"
        if self.lang == "console" and re.search(r"^\$ ", self.source, re.M):
            return "shell"
        return None


def _preceding_comment(lines: list[str], i: int) -> tuple[str, str] | None:
    """The ``<!-- no-test: ... -->`` or ``<!-- run: ... -->`` comment just above line i."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or not lines[j].rstrip().endswith("-->"):
        return None
    start = j
    while start >= 0 and "<!--" not in lines[start]:
        start -= 1
    if start < 0:
        return None
    m = _MARKER.match("\n".join(lines[start:j + 1]))
    return (m["kind"], m["body"]) if m else None


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of `path` (CommonMark fences: a closing fence is at least as long)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        lang = m["info"].strip().split()[0].lower() if m["info"].strip() else ""
        body, j = [], i + 1
        while j < len(lines):
            c = _FENCE.match(lines[j])
            if c and c["fence"][0] == fence[0] and len(c["fence"]) >= len(fence) \
                    and not c["info"].strip():
                break
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n",
                            _preceding_comment(lines, i)))
        i = j + 1
    return blocks


ALL_BLOCKS = [b for p in DOC_FILES for b in parse_blocks(p)]
EXAMPLES = [b for b in ALL_BLOCKS if b.kind is not None]
_EXECUTED: dict[str, int] = {"doctest": 0, "exec": 0, "shell": 0}
_OPT_OUTS: list[str] = []


class _Summary:
    """Prints, at the end of the session, how many documentation examples were executed."""

    def pytest_terminal_summary(self, terminalreporter):
        n = sum(_EXECUTED.values())
        if n or _OPT_OUTS:
            terminalreporter.write_line(
                f"documentation examples executed: {n} of {len(EXAMPLES)} "
                f"({_EXECUTED['doctest']} doctest, {_EXECUTED['exec']} exec, "
                f"{_EXECUTED['shell']} shell); opted out: {len(_OPT_OUTS)}"
                + "".join(f"\n  no-test {o}" for o in _OPT_OUTS))


@pytest.fixture(scope="module", autouse=True)
def _report_count(request):
    pm = request.config.pluginmanager
    if not pm.has_plugin("docs-examples-summary"):
        pm.register(_Summary(), "docs-examples-summary")
    yield


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def _run_doctest(block: Block) -> None:
    test = doctest.DocTestParser().get_doctest(block.source, {"__name__": "__docs__"},
                                               block.name, str(block.path), block.line)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test, out=out.write, clear_globs=True)
    assert result.attempted > 0, f"{block.name}: no examples found"
    if result.failed:
        pytest.fail(f"{block.name}: {result.failed} of {result.attempted} examples failed\n"
                    + out.getvalue(), pytrace=False)


def _run_exec(block: Block) -> None:
    code = compile(block.source, block.name, "exec")
    exec(code, {"__name__": "__docs__"})


def _sim(command: str) -> tuple[int, str]:
    """Run one ``sim ...`` command line in-process; returns (exit code, stdout + stderr)."""
    from sim.cli import main

    args = shlex.split(command)
    assert args and args[0] == "sim", f"only sim commands are run; got {command!r}"
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(args[1:])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue()


def _console_commands(source: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block (``$ `` starts a command)."""
    pairs: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:].strip(), []))
        elif pairs:
            pairs[-1][1].append(line)
    return [(cmd, "\n".join(want).strip()) for cmd, want in pairs]


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
#: relative tolerance on a printed number (3 significant digits flip their last digit on a
#: change of 1e-3 relative; 2% still catches a wrong number)
NUMBER_RTOL = 0.02


def numbers_match(want: str, got: str, rtol: float = NUMBER_RTOL) -> str | None:
    """Compare a transcript with a command's output: the text must match, whitespace
    normalized (rich wraps long lines) and ``...`` matching anything, and every printed
    number must agree within `rtol` (relative; absolute 1e-9 near 0). Returns None when they
    match, else a sentence saying what differs."""
    import math as _m

    norm = " ".join(got.split())
    pos = 0
    for seg in (" ".join(part.split()) for part in want.split("...")):
        if not seg:
            continue
        pieces = re.split(f"({_NUMBER})", seg)
        pattern = "".join(f"({_NUMBER})" if i % 2 else re.escape(t).replace(r"\ ", r"\s*")
                          for i, t in enumerate(pieces))
        rx = re.compile(pattern)
        m = rx.search(norm, pos)
        if m is None:
            return f"not found in the output: {seg[:120]!r}"
        first_bad = None
        while m is not None:  # the first place where the text and every number match
            bad = next(((w, g) for w, g in zip(pieces[1::2], m.groups(), strict=True)
                        if not _m.isclose(float(w), float(g), rel_tol=rtol, abs_tol=1e-9)),
                       None)
            if bad is None:
                break
            first_bad = first_bad or bad
            m = rx.search(norm, m.start() + 1)
        if m is None:
            w, g = first_bad
            return f"printed {g} where the transcript shows {w} (in {seg[:80]!r})"
        pos = m.end()
    return None


def _run_shell(block: Block) -> None:
    if block.marker and block.marker[0] == "run":
        commands = [(c.strip(), "") for c in re.split(r"[;\n]", block.marker[1]) if c.strip()]
    else:
        commands = _console_commands(block.source)
    checker = doctest.OutputChecker()
    for cmd, want in commands:
        code, got = _sim(cmd)
        assert code == 0, f"{block.name}: `{cmd}` exited with {code}:\n{got}"
        if want and not checker.check_output(want + "\n", got, FLAGS):
            # the numbers a transcript shows are compared within a tolerance, the text exactly
            why = numbers_match(want, got)
            if why is not None:
                pytest.fail(f"{block.name}: `{cmd}` printed\n{got}\nexpected\n{want}\n({why})",
                            pytrace=False)


def _param(b: Block):
    # shell blocks that simulate (sim run ...) take seconds even at reduced sizes
    slow = b.kind == "shell" and "sim run" in (b.marker[1] if b.marker else b.source)
    return pytest.param(b, id=b.name, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("block", [_param(b) for b in EXAMPLES])
def test_example(block: Block, in_tmp):
    if block.marker and block.marker[0] == "no-test":
        _OPT_OUTS.append(f"{block.name}: {block.marker[1]}")
        pytest.skip(f"no-test: {block.marker[1]}")
    {"doctest": _run_doctest, "exec": _run_exec, "shell": _run_shell}[block.kind](block)
    _EXECUTED[block.kind] += 1


def test_every_python_fence_is_collected():
    # an independent count of python fences, so that a block the parser misses (an indented
    # fence, an unusual info string) cannot silently stop being tested
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        n_fences = len(re.findall(r"^\s*(?:`{3,}|~{3,})\s*python\b", text, re.M | re.I))
        collected = [b for b in EXAMPLES if b.path == path and b.lang == "python"]
        assert len(collected) == n_fences, path.name


def test_docs_exist_and_have_examples():
    names = {p.name for p in DOC_FILES}
    assert {"theory.md", "api.md"} <= names
    for path in DOC_FILES:
        if path.parent.name == "docs":
            assert any(b.path == path and b.kind for b in EXAMPLES), path.name


_DOTTED = re.compile(r"`((?:sim|theory)(?:\.[A-Za-z_]\w*)+)`")


def _resolve(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_cited_names_exist():
    # the docs name the module and function that implement each quantity: those must exist
    missing = sorted({f"{p.name}: {m}" for p in DOC_FILES
                      for m in _DOTTED.findall(p.read_text(encoding="utf-8"))
                      if not _resolve(m)})
    assert not missing, "names cited in the docs that do not resolve:\n" + "\n".join(missing)


_LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s]*)\)")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def test_relative_links_resolve():
    # relative links (and their #anchors) in README, CONTRIBUTING and docs point somewhere
    broken = []
    for page in [*DOC_FILES, ROOT / "CONTRIBUTING.md"]:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            file, _, anchor = target.partition("#")
            dest = (page.parent / file) if file else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def _repository_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [ROOT / f for f in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", "results", ".venv", ".venv-ci", "venv", "build", "dist"}
        files = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    return [f for f in files if f.is_file() and f.suffix in
            {".py", ".md", ".toml", ".cff", ".txt", ".cfg", ".yml", ".yaml", ""}]


def test_nothing_refers_outside_the_repository():
    # the spec lives in docs/theory.md; a user's clone has no sibling folder
    needles = ("../" + "shared", "/work/" + "shared")
    hits = [f"{f.relative_to(ROOT)}:{n}" for f in _repository_files()
            for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace")
                                     .splitlines(), 1)
            if any(s in line for s in needles)]
    assert not hits, "references to a path outside the repository:\n" + "\n".join(hits)


_SECTION = re.compile(r"docs/theory\.md\s*§\s*(\d+)")


def test_section_citations_exist():
    # code cites "docs/theory.md §n": every such n must be a numbered section of the page
    text = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", text, re.M)}
    assert sections == set(range(1, 10))
    cited = {(f.relative_to(ROOT).as_posix(), int(n)) for f in _repository_files()
             for n in _SECTION.findall(f.read_text(encoding="utf-8", errors="replace"))}
    bad = sorted(c for c in cited if c[1] not in sections)
    assert not bad, f"citations of sections that docs/theory.md does not have: {bad}"


def test_the_runner_can_fail(tmp_path):
    # the runner itself: wrong shown output, a raising block and a failing command all fail,
    # and the markers are read from the comment just above a fence
    md = tmp_path / "page.md"
    md.write_text("\n".join([
        "```python", ">>> 1 + 1", "3", "```",
        "", "```python", "raise RuntimeError('rotten example')", "```",
        "", "<!-- no-test: needs a GPU -->", "```python", "import nothing_here", "```",
        "", "<!-- run:", "sim theory bound --theta 1.5 --k 8 --alpha 0.2 --beta 3", "-->",
        "```bash", "sim run --skills 1e9", "```",
        "", "```console", "$ sim theory bound --theta 0.1 --k 9 --alpha 0.2 --beta 3",
        "Theorem 8 at theta = 0.2...", "```", ""]), encoding="utf-8")
    doc, exe, skipped, shell, console = parse_blocks(md)
    assert [b.kind for b in (doc, exe, skipped, shell, console)] == \
        ["doctest", "exec", "exec", "shell", "shell"]
    assert (doc.line, exe.line, skipped.line) == (1, 6, 11)
    assert skipped.marker == ("no-test", "needs a GPU")
    assert shell.marker[0] == "run" and "--theta 1.5" in shell.marker[1]
    with pytest.raises(pytest.fail.Exception, match="1 of 1 examples failed"):
        _run_doctest(doc)
    with pytest.raises(RuntimeError, match="rotten example"):
        _run_exec(exe)
    with pytest.raises(AssertionError, match="exited with 2"):
        _run_shell(shell)  # bad input: the command exits with code 2
    with pytest.raises(pytest.fail.Exception, match="expected"):
        _run_shell(console)  # the command succeeds but prints theta = 0.1


def test_numbers_are_compared_within_a_tolerance():
    got = "verdict: HOLDS — m = 8.21 [7.86, 8.64] vs threshold 10.1\nrun folder: /x/y (3.2 s)"
    assert numbers_match("verdict: HOLDS — m = 8.2 [7.86, 8.64] vs threshold 10.1\n...",
                         got) is None
    # a number 5% off fails, and so does different text
    why = numbers_match("m = 8.62 [7.86, 8.64]", got)
    assert why is not None and "8.21" in why
    assert numbers_match("verdict: FAILS — m = 8.21", got) is not None
    # table rows share their text: a row is found by its numbers, not by the first row
    table = "│ 1e+08 │ 0.50 │\n│ 2.15e+08 │ 0.40 │\n│ 1e+10 │ 0.12 │"
    assert numbers_match("│ 1e+10 │ 0.12 │", table) is None
    assert numbers_match("│ 1e+10 │ 0.15 │", table) is not None
    # rich wraps long lines: whitespace is normalized
    assert numbers_match("m = 8.21 [7.86, 8.64] vs threshold 10.1",
                         got.replace(" vs ", "\n vs ")) is None
