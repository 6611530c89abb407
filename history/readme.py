"""Parse the track-1 record table of modded-nanogpt's README.md (pure text, no git).

The table looks like

    | # | Record time | Description | Date | Log | Contributors |
    | - | - | - | - | - | - |
    1 | 45 minutes | [llm.c baseline](https://…) | 05/28/24 | [log](records/…/main.log) | @karpathy
    21 | 2.997 minutes | 21st record with new timing | 02/01/25 | [log](records/…) | not a new record, …

Rows have no leading pipe, a number may repeat (re-timings of #21), cells may lack the space before a
pipe (#45), the log cell may hold a log link, a folder link, a PR link, "none" or "-".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from history.errors import HistoryError

_HEADER = re.compile(r"^\|?\s*#\s*\|\s*Record time\s*\|", re.IGNORECASE)
_ROW = re.compile(r"^\|?\s*(\d+)\s*\|")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_PR = re.compile(r"/pull/(\d+)")
_TIME = re.compile(r"([\d.]+)\s*(hours?|minutes?|mins?|seconds?|secs?|h|m|s)\b", re.IGNORECASE)
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0}


@dataclass(frozen=True)
class ReadmeRow:
    number: int
    key: str            # "21" for the first row with a number, "21 (2.997)" for a later one (a re-timing)
    time: str           # as written, e.g. "2.997 minutes" ("*" markers dropped)
    time_s: float
    description: str    # markdown links reduced to their text
    date: str           # ISO date, "" where the README has none
    logs: tuple[str, ...]   # repository paths of the linked log(s) or folder
    pr: int | None
    contributors: str
    line: int           # 1-based line number in README.md


def parse_time(text: str) -> float:
    """'45 minutes' -> 2700.0, '5.8 hours' -> 20880.0; raises ValueError when no time is found."""
    m = _TIME.search(text)
    if not m:
        raise ValueError(f"no time in {text!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2)[0].lower()]


def parse_date(text: str) -> str:
    """'05/28/24' -> '2024-05-28'; '' for '-' or an empty cell."""
    text = text.strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", text)
    if not m:
        return ""
    month, day, year = (int(g) for g in m.groups())
    return date(year + 2000 if year < 100 else year, month, day).isoformat()


def _plain(cell: str) -> str:
    return re.sub(r"\s+", " ", _LINK.sub(lambda m: m.group(1), cell)).strip()


def parse_record_table(readme: str) -> list[ReadmeRow]:
    """The rows of the first record table (track 1). Raises HistoryError when there is none."""
    lines = readme.splitlines()
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if start is None:
        raise HistoryError("README.md has no record table (a '| # | Record time | … |' header); "
                           "is this a clone of KellerJordan/modded-nanogpt?")
    rows: list[ReadmeRow] = []
    seen: set[int] = set()
    for i in range(start + 1, len(lines)):
        line = lines[i].strip()
        if not line:
            if rows:
                break
            continue
        if re.fullmatch(r"\|?[\s|:-]+\|?", line):      # the | - | - | separator
            continue
        if not _ROW.match(line):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            continue
        number = int(cells[0])
        time_text = cells[1].replace("*", "").strip()
        try:
            seconds = parse_time(time_text)
        except ValueError:
            continue
        value = re.match(r"[\d.]+", time_text).group(0)
        key = str(number) if number not in seen else f"{number} ({value})"
        seen.add(number)
        log_cell = cells[4]
        links = _LINK.findall(log_cell)
        logs = tuple(url.strip("/") for text, url in links
                     if text.strip().lower() == "log" and not url.startswith(("http://", "https://")))
        pr_match = next((_PR.search(url) for _, url in links if _PR.search(url)), None)
        rows.append(ReadmeRow(number=number, key=key, time=time_text, time_s=seconds,
                              description=_plain(cells[2]), date=parse_date(cells[3]), logs=logs,
                              pr=int(pr_match.group(1)) if pr_match else None,
                              contributors=_plain("|".join(cells[5:])), line=i + 1))
    if not rows:
        raise HistoryError("README.md's record table has no rows; is this a clone of KellerJordan/modded-nanogpt?")
    return rows
