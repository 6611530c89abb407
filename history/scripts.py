"""Training scripts as they appear in record logs, and diffs between them (pure text, no git).

From record #4 on, every log begins with the full training script: #4–#17 open with a line of '='
then the script then another '=' line; from #18 the script starts on line 1 and ends at the first '='
line. From #61 the logged text is train_gpt.py followed by kernel files, each introduced by a header
of dashes / "# triton_kernels.py" / dashes, so one log holds several files.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass, field

_RULE = re.compile(r"^={20,}\s*$")
_DASHES = re.compile(r"^-{20,}\s*$")
_FILE_HEADER = re.compile(r"^#\s*([\w./-]+\.py)\s*$")

# The main script was renamed on 2024-12-31 (commit 5db4da38 "rename from gpt2 to gpt").
RENAME_DATE = "2024-12-31"


def main_script_name(iso_date: str) -> str:
    """The trainer's file name in the period of a record (dates before the rename: train_gpt2.py)."""
    return "train_gpt2.py" if iso_date and iso_date < RENAME_DATE else "train_gpt.py"


@dataclass
class Script:
    """One record's code: file name -> text, the main trainer first."""
    files: dict[str, str] = field(default_factory=dict)
    source: str = ""          # where it was read from, for the reader of a diff

    @property
    def main(self) -> tuple[str, str]:
        name = next(iter(self.files))
        return name, self.files[name]

    def lines(self) -> int:
        return sum(text.count("\n") for text in self.files.values())


def script_from_log(text: str) -> str | None:
    """The script embedded at the top of a log, or None when the log carries none (#1, #2)."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and _RULE.match(lines[i]):
        i += 1
    body: list[str] = []
    for line in lines[i:]:
        if _RULE.match(line):
            break
        body.append(line)
    else:
        return None                 # no closing rule: not a log with a script
    script = "".join(body)
    # Old llm.c-format logs ("s:0 tel:…") have no Python; a script imports something early on.
    if not re.search(r"^\s*(import|from)\s+\w", script, re.MULTILINE):
        return None
    return script


def split_files(script: str, main_name: str) -> dict[str, str]:
    """Split a logged script into files on the dashed '# name.py' headers (kernels from #61 on)."""
    lines = script.splitlines(keepends=True)
    files: dict[str, list[str]] = {main_name: []}
    current = main_name
    i = 0
    while i < len(lines):
        if (i + 2 < len(lines) and _DASHES.match(lines[i]) and _FILE_HEADER.match(lines[i + 1].strip())
                and _DASHES.match(lines[i + 2])):
            current = _FILE_HEADER.match(lines[i + 1].strip()).group(1)
            files[current] = []
            i += 3
            continue
        files[current].append(lines[i])
        i += 1
    return {name: "".join(body).strip("\n") + "\n" for name, body in files.items()}


def script_of_log(text: str, main_name: str, source: str = "") -> Script | None:
    body = script_from_log(text)
    if body is None:
        return None
    return Script(files=split_files(body, main_name), source=source)


def normalise(source: str) -> str:
    """Python source with comments, docstrings and formatting removed (ast round trip), so that a diff
    shows changes of code rather than reformatting (the black-formatted #32 otherwise dominates).
    Returns the text unchanged where it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree) + "\n"


def diff_scripts(old: Script, new: Script, old_label: str, new_label: str, *,
                 normalised: bool = False, context: int = 3) -> str:
    """Unified diff file by file; the main trainers are paired even across the gpt2 -> gpt rename."""
    old_main, new_main = old.main[0], new.main[0]
    pairs = [(old_main, new_main)]
    for name in new.files:
        if name != new_main:
            pairs.append((name if name in old.files else None, name))
    for name in old.files:
        if name != old_main and name not in new.files:
            pairs.append((name, None))
    out: list[str] = []
    for a, b in pairs:
        a_text = old.files.get(a, "") if a else ""
        b_text = new.files.get(b, "") if b else ""
        if normalised:
            a_text, b_text = normalise(a_text) if a_text else "", normalise(b_text) if b_text else ""
        out.extend(difflib.unified_diff(
            a_text.splitlines(keepends=True), b_text.splitlines(keepends=True),
            fromfile=f"{old_label}/{a}" if a else "/dev/null",
            tofile=f"{new_label}/{b}" if b else "/dev/null", n=context))
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def changed_lines(diff: str) -> int:
    """Lines added or removed in a unified diff (headers excluded)."""
    return sum(1 for line in diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---")))
