"""Read a user's clone of KellerJordan/modded-nanogpt (normal or bare) with gitpython.

The only module that imports `git`: the GPU machines have no gitpython, and nothing else in remix
needs it. Every failure of git (a missing path, a directory that is not a repository, a repository
that is not the speedrun, objects absent from a partial clone) becomes a HistoryError.

Provenance of a record's log is found the way history-layout.md describes: one `git log --raw` pass
over records/ lists every file added or deleted per commit with blob ids; a file deleted and a file
added with the same blob in one commit is a rename (the bulk folder renames of 2025-10 and 2026-04),
so renames are followed without rename detection, which would need the content of blobs that some
clones lack.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from history.errors import HistoryError
from history.readme import ReadmeRow, parse_record_table
from history.scripts import Script, main_script_name, script_of_log

_LOG_SUFFIXES = (".txt", ".log")
_KERNEL_FILES = ("triton_kernels.py", "dc_triton_kernels.py")


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    date: str        # author date, ISO (YYYY-MM-DD)
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:8]


def _git():
    try:
        import git  # noqa: PLC0415 — kept local: gitpython is only needed when a clone is read
    except ImportError as exc:
        raise HistoryError("reading a clone needs gitpython (pip install gitpython)") from exc
    return git


def _common_tail(a: str, b: str) -> tuple[int, int]:
    """How alike two paths end: (number of equal trailing components, equal trailing characters)."""
    pa, pb = a.split("/")[::-1], b.split("/")[::-1]
    parts = next((i for i, (x, y) in enumerate(zip(pa, pb)) if x != y), min(len(pa), len(pb)))
    chars = next((i for i, (x, y) in enumerate(zip(a[::-1], b[::-1])) if x != y), min(len(a), len(b)))
    return parts, chars


class SpeedrunRepo:
    """A clone of modded-nanogpt, read at HEAD."""

    def __init__(self, path: str | Path):
        git = _git()
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise HistoryError(f"no such path: {self.path}")
        try:
            self.repo = git.Repo(self.path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise HistoryError(f"{self.path} is not a git repository (expected a clone, normal or bare, "
                               "of KellerJordan/modded-nanogpt)") from None
        # A bare clone without a config file (as mirrors sometimes are) is taken by gitpython for a
        # work tree's .git and git is run from its parent, where it finds no repository; naming the
        # git dir explicitly makes every git call, cat-file included, independent of that guess.
        self.repo.git.update_environment(GIT_DIR=self.repo.git_dir)
        try:
            self.head = self.repo.head.commit
        except ValueError:
            raise HistoryError(f"{self.path} has no commits (HEAD points nowhere)") from None
        except Exception as exc:  # gitpython raises several types for a broken HEAD
            raise HistoryError(f"cannot read HEAD of {self.path}: {exc}") from None
        self._adds: dict[str, list[tuple[int, CommitInfo]]] | None = None
        self._renamed_from: dict[tuple[str, str], str] = {}

    # ---- blobs and trees ---------------------------------------------------------------------

    def _commit(self, rev: str):
        try:
            return self.repo.commit(rev)
        except Exception:  # BadName, BadObject, ValueError: all mean the clone lacks it
            raise HistoryError(f"commit {rev} is not in {self.path} (a shallow or partial clone, "
                               "or a rewritten history?)") from None

    def _entry(self, path: str, commit: str | None = None):
        tree = self._commit(commit).tree if commit else self.head.tree
        try:
            return tree / path
        except KeyError:
            raise HistoryError(f"{path} does not exist at {commit or 'HEAD'} in {self.path}") from None

    def read_text(self, path: str, commit: str | None = None) -> str:
        entry = self._entry(path, commit)
        if entry.type != "blob":
            raise HistoryError(f"{path} is a folder, not a file")
        try:
            data = entry.data_stream.read()
        except Exception:
            raise HistoryError(f"the object for {path} ({entry.hexsha[:12]}) is missing from {self.path} "
                               "(a partial clone? try `git fetch` or a fresh clone)") from None
        return data.decode("utf-8", errors="replace")

    def exists(self, path: str, commit: str | None = None) -> bool:
        try:
            self._entry(path, commit)
            return True
        except HistoryError:
            return False

    def files_under(self, folder: str) -> list[str]:
        """Every file path under a folder at HEAD, sorted."""
        entry = self._entry(folder)
        if entry.type == "blob":
            return [folder]
        return sorted(item.path for item in entry.traverse() if item.type == "blob")

    # ---- the README table ----------------------------------------------------------------------

    @cached_property
    def rows(self) -> list[ReadmeRow]:
        if not self.exists("README.md"):
            raise HistoryError(f"{self.path} has no README.md at HEAD; is it a clone of KellerJordan/modded-nanogpt?")
        return parse_record_table(self.read_text("README.md"))

    # ---- provenance: which commit added a log --------------------------------------------------

    def _index(self) -> dict[str, list[tuple[int, CommitInfo]]]:
        """path -> [(age rank, commit that added it)], built in one pass of git log over records/."""
        if self._adds is not None:
            return self._adds
        git = _git()
        try:
            out = self.repo.git.log(self.head.hexsha, "--full-history", "--no-renames", "--raw", "--no-abbrev",
                                    "--diff-filter=AD", "--format=%x01%H%x00%as%x00%s", "--", "records")
        except git.GitCommandError as exc:
            raise HistoryError(f"git log failed in {self.path}: {exc.stderr.strip() or exc}") from None
        adds: dict[str, list[tuple[int, CommitInfo]]] = {}
        for rank, chunk in enumerate(out.split("\x01")[1:]):
            header, _, body = chunk.partition("\n")
            sha, day, subject = header.split("\x00", 2)
            info = CommitInfo(sha=sha, date=day, subject=subject)
            added: list[tuple[str, str]] = []          # (blob, path)
            deleted: dict[str, list[str]] = {}         # blob -> paths
            for line in body.splitlines():
                if not line.startswith(":"):
                    continue
                meta, _, path = line.partition("\t")
                fields = meta.split()
                status, old_blob, new_blob = fields[-1], fields[2], fields[3]
                if status == "A":
                    added.append((new_blob, path))
                    adds.setdefault(path, []).append((rank, info))
                elif status == "D":
                    deleted.setdefault(old_blob, []).append(path)
            for blob, new_path in added:
                if blob in deleted:
                    # Identical copies of one log sit in several folders; pair each new path with the
                    # old path that shares the longest tail (file name, then folder name).
                    self._renamed_from[(sha, new_path)] = max(
                        deleted[blob], key=lambda old: _common_tail(old, new_path))
        self._adds = adds
        return adds

    def added_by(self, path: str) -> CommitInfo | None:
        """The earliest commit that added a file, following exact renames back to its first name.
        For a folder, the earliest over the files in it. None when git history does not know the path."""
        index = self._index()
        paths = self.files_under(path) if self.exists(path) else [path]
        found: list[tuple[int, CommitInfo]] = []
        for p in paths:
            seen: set[str] = set()
            best = None
            while p in index and p not in seen:
                seen.add(p)
                best = max(index[p], key=lambda item: item[0])   # highest rank = oldest in git log order
                older = self._renamed_from.get((best[1].sha, p))
                if older is None:
                    break
                p = older
            if best is not None:
                found.append(best)
        return max(found, key=lambda item: item[0])[1] if found else None

    def commit_info(self, rev: str) -> CommitInfo | None:
        try:
            c = self.repo.commit(rev)
        except Exception:
            return None
        return CommitInfo(sha=c.hexsha, date=c.authored_datetime.date().isoformat(), subject=c.summary)

    # ---- scripts -------------------------------------------------------------------------------

    def pick_log(self, link: str) -> str | None:
        """The log file a README link stands for: the file itself, or the first log in a linked folder."""
        if not self.exists(link):
            return None
        files = [f for f in self.files_under(link) if f.endswith(_LOG_SUFFIXES)]
        return files[0] if files else None

    def log_script(self, log_path: str, iso_date: str) -> Script | None:
        """The script embedded at the top of a record log (None when the log has none)."""
        text = self.read_text(log_path)
        return script_of_log(text, main_script_name(iso_date), source=f"{log_path} (HEAD)")

    def root_script(self, commit: str) -> Script:
        """The trainer files at the repository root at a commit (for records without a log).
        The file name depends on the period: train_gpt2.py until 2024-12-31, then train_gpt.py, and from
        2026-01 kernel files next to it; run.sh comes along where it exists."""
        self._commit(commit)
        for main in ("train_gpt.py", "train_gpt2.py"):
            if self.exists(main, commit):
                files = {main: self.read_text(main, commit)}
                # Until October 2024 the hyperparameters were command-line arguments in run.sh.
                for extra in (*_KERNEL_FILES, "run.sh"):
                    if self.exists(extra, commit):
                        files[extra] = self.read_text(extra, commit)
                return Script(files=files, source=f"{' + '.join(files)} at {commit[:8]}")
        raise HistoryError(f"no train_gpt.py or train_gpt2.py at commit {commit[:8]}")
