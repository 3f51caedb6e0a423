"""Run the README's five-minute tour as a reader would, and say where it stops being true (issue 14).

The convention, for whoever adds a step to the tour (README.md, the section "A five-minute tour" up to the next
`## ` heading):

- Every ```python and ```sh block runs, top to bottom, in the clone's folder (where `make up` keeps ./.cellplane).
  Python blocks share one namespace, as in one interpreter session; sh blocks run in bash with `set -eo pipefail`
  and their shell variables carry on to later sh blocks; `curl` fails on an HTTP error (`--fail-with-body`).
- An HTML comment just before a block changes how it is taken (a reader of the rendered README sees nothing):
  `<!-- tour: skip -->` shows a block without running it (it needs something the demo has not, say);
  `<!-- tour: background until="TEXT" -->` starts a sh block that runs until stopped (the device bridge), waits
  until TEXT shows on its output, and stops it (SIGINT, as Ctrl-C) when the tour ends;
  `<!-- tour: output -->` before a plain ``` block: it is what the previous block printed;
  `<!-- tour: output of make up -->`: it is what `make up` printed (the banner).
- `# -> TEXT` at the end of a line: what the statement (Python) or command (sh) ending on that line prints.
- Shown outputs match when equal with every run of whitespace taken as one space, and `...` standing for any
  text (sids, tokens, dates).
- Placeholders are filled as a reader fills them from the banner: `AC0187...` and `4f1c...` (the demo account's
  AccountSid and AuthToken), `<ICCID>` (demo-sim-1's ICCID); the default ports (8080 of the API, 1812/1813 of the
  AAA, 2123/2152 of the gateway, 7000/7001 of the device bridge's example) become the free ports of the test server.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TOUR_HEADING = "## A five-minute tour"
_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*tour:\s*(.*?)\s*-->\s*$")
_EXPECT = re.compile(r"\s+# -> (.*)$")
BEGIN, END = "\x00tour-begin:{}\x00", "\x00tour-end:{}\x00"


@dataclass
class Block:
    """One fenced block of the tour: its language, text, the directive before it, and its README line."""

    language: str
    text: str
    directive: str
    line: int

    @property
    def where(self) -> str:
        return f"README.md line {self.line} ({self.language or 'output'} block)"


def tour_blocks(readme: str) -> list[Block]:
    """The tour section's fenced blocks, in order."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == TOUR_HEADING)
    blocks: list[Block] = []
    directive, index = "", start + 1
    while index < len(lines) and not lines[index].startswith("## "):
        line = lines[index]
        matched = _DIRECTIVE.match(line.strip())
        fence = _FENCE.match(line)
        if matched:
            directive = matched.group(1)
        elif fence:
            body_start, index = index + 1, index + 1
            while not lines[index].startswith("```"):
                index += 1
            blocks.append(Block(fence.group(1), "\n".join(lines[body_start:index]), directive, body_start))
            directive = ""
        elif line.strip():
            directive = ""  # a directive applies to the block right after it only
        index += 1
    return blocks


def matches(expected: str, actual: str) -> bool:
    """`actual` is `expected`, whitespace runs equal, `...` standing for any text."""

    def squeeze(text: str) -> str:
        return " ".join(text.split())

    pattern = ".*?".join(re.escape(part) for part in squeeze(expected).split("..."))
    return re.fullmatch(pattern, squeeze(actual), re.DOTALL) is not None


class TourFailed(AssertionError):
    pass


@dataclass
class Tour:
    """The state of one reader's walk through the tour."""

    folder: Path
    env: dict[str, str]
    fills: dict[str, str]
    ports: dict[str, str] = field(default_factory=dict)  # a default port the tour names -> the one in use
    namespace: dict[str, object] = field(default_factory=dict)
    shell_state: Path | None = None
    background: list[subprocess.Popen[str]] = field(default_factory=list)
    last_output: str = ""

    def fill(self, text: str) -> str:
        for placeholder, value in self.fills.items():
            text = text.replace(placeholder, value)
        if self.ports:
            # A port after "host:" or ", " (a Python socket address), as a whole number.
            numbers = "|".join(self.ports)
            pattern = rf"(?<=[:,] )({numbers})\b|(?<=:)({numbers})\b"
            text = re.sub(pattern, lambda m: self.ports[m.group(0)], text)
        return text

    def run(self, blocks: list[Block], make_up_output: str) -> int:
        """Run every block; returns how many ran. Raises TourFailed at the first block that fails or prints
        something else than the README shows."""
        ran = 0
        for block in blocks:
            if block.directive == "skip":
                continue
            if block.language == "":
                if block.directive.startswith("output"):
                    shown = make_up_output if block.directive == "output of make up" else self.last_output
                    self.expect(block, self.fill(block.text), shown, block.directive)
                continue
            if block.language == "python":
                self.last_output = self.run_python(block)
            elif block.language == "sh" and block.directive.startswith("background"):
                self.start_background(block)
                self.last_output = ""
            elif block.language == "sh":
                self.last_output = self.run_sh(block)
            else:
                continue
            ran += 1
        return ran

    def expect(self, block: Block, expected: str, actual: str, what: str) -> None:
        if not matches(expected, actual):
            raise TourFailed(f"{block.where}: {what} differs\n--- README shows:\n{expected}\n--- ran:\n{actual}")

    # --- Python ---------------------------------------------------------------------------------------------

    def run_python(self, block: Block) -> str:
        source, expectations = _mark_python(self.fill(block.text))
        out = io.StringIO()
        marks = {
            "__tour_begin__": lambda n: out.write(BEGIN.format(n)),
            "__tour_end__": lambda n: out.write(END.format(n)),
        }
        self.namespace.update(marks)
        with contextlib.chdir(self.folder), contextlib.redirect_stdout(out):
            try:
                exec(compile(source, block.where, "exec"), self.namespace)  # the README's own code, as a reader runs it
            except Exception as error:
                raise TourFailed(
                    f"{block.where} failed: {type(error).__name__}: {error}\n{_unmarked(out.getvalue())}"
                ) from error
        self._check_marked(block, out.getvalue(), expectations)
        return _unmarked(out.getvalue())

    # --- sh -------------------------------------------------------------------------------------------------

    def _script(self, text: str) -> str:
        state = self.folder / ".tour-shell-state"
        self.shell_state = state
        return "\n".join(
            [
                "set -eo pipefail",
                'curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }',
                f"[ -f {state} ] && source {state}",
                "__tour_before=$(compgen -v)",
                text,
                # Carry the block's new shell variables on to the next sh block.
                "for v in $(compgen -v); do "
                "case $v in BASH*|PIPESTATUS|_|v|__tour_*|FUNCNAME|COLUMNS|LINES) continue;; esac; "
                f'grep -qx "$v" <<<"$__tour_before" || declare -p "$v"; done >> {state} 2>/dev/null || true',
            ]
        )

    def run_sh(self, block: Block) -> str:
        text, expectations = _mark_sh(self.fill(block.text))
        result = subprocess.run(
            ["bash", "-c", self._script(text)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise TourFailed(
                f"{block.where} failed (exit {result.returncode}):\n{_unmarked(result.stdout)}\n{result.stderr}"
            )
        self._check_marked(block, result.stdout, expectations)
        return _unmarked(result.stdout)

    def start_background(self, block: Block) -> None:
        until = re.search(r'until="([^"]*)"', block.directive)
        process = subprocess.Popen(
            ["bash", "-c", self._script("exec " + self.fill(block.text).strip())],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.background.append(process)
        printed: list[str] = []
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: printed.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        if until is None:
            return
        deadline = time.monotonic() + 30
        while not any(until.group(1) in line for line in list(printed)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise TourFailed(f"{block.where}: {until.group(1)!r} never showed; it printed:\n{''.join(printed)}")
            time.sleep(0.1)

    def stop_background(self) -> None:
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.background.clear()

    # --- shown outputs --------------------------------------------------------------------------------------

    def _check_marked(self, block: Block, output: str, expectations: dict[int, str]) -> None:
        for number, expected in expectations.items():
            begin, end = BEGIN.format(number), END.format(number)
            if begin not in output or end not in output:
                raise TourFailed(f"{block.where}: the line with `# -> {expected}` did not run")
            printed = _unmarked(output.split(begin, 1)[1].split(end, 1)[0])
            self.expect(block, expected, printed, f"output of the line with `# -> {expected}`")


def _unmarked(text: str) -> str:
    return re.sub(r"\x00tour-(begin|end):\d+\x00", "", text)


def _mark_python(source: str) -> tuple[str, dict[int, str]]:
    """The block with markers around each statement that ends on a `# ->` line."""
    lines = source.splitlines()
    expectations = {n: m.group(1) for n, line in enumerate(lines, start=1) if (m := _EXPECT.search(line))}
    if not expectations:
        return source, {}
    statements = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)]
    inserts: list[tuple[int, str]] = []
    for number in expectations:
        statement = min(
            (s for s in statements if s.end_lineno == number), key=lambda s: s.end_lineno - s.lineno, default=None
        )
        if statement is None:
            raise TourFailed(f"`# ->` on line {number} of a python block ends no statement")
        indent = " " * statement.col_offset
        inserts += [
            (statement.lineno - 1, f"{indent}__tour_begin__({number})"),
            (number, f"{indent}__tour_end__({number})"),
        ]
    for index, text in sorted(inserts, key=lambda item: item[0], reverse=True):
        lines.insert(index, text)
    return "\n".join(lines), expectations


def _mark_sh(text: str) -> tuple[str, dict[int, str]]:
    """The block with markers printed around each command that ends on a `# ->` line (continuations included)."""
    lines = text.splitlines()
    expectations: dict[int, str] = {}
    out: list[str] = []
    command: list[str] = []
    for number, line in enumerate(lines, start=1):
        command.append(line)
        if line.rstrip().endswith("\\"):
            continue
        matched = _EXPECT.search(line)
        if matched:
            expectations[number] = matched.group(1)
            out.append(f"printf '{BEGIN.format(number)}'".replace("\x00", "\\0"))
            out += command
            out.append(f"printf '{END.format(number)}'".replace("\x00", "\\0"))
        else:
            out += command
        command = []
    out += command
    return "\n".join(out), expectations


@contextlib.contextmanager
def walking(
    folder: Path, env: dict[str, str], fills: dict[str, str], ports: dict[str, str] | None = None
) -> Iterator[Tour]:
    tour = Tour(folder, env, fills, ports or {})
    try:
        yield tour
    finally:
        tour.stop_background()


def dedent(text: str) -> str:
    return textwrap.dedent(text).strip()
