"""Records and shards on disk: strict JSON, modes that follow the umask, one trainer per run identity."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from remix.data import write_shard
from remix.lock import RunLocked, run_lock
from remix.results import CurvePoint, ResultStore, RunResult


def record(**kw) -> RunResult:
    base = dict(identity="abc123", status="diverged", recipe={"name": "r"}, variant={"kind": "full"},
                ingredients=[], seed=0, target=3.28, spec={"train": {"steps": 10}}, hardware={}, software={})
    return RunResult(**{**base, **kw})


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = ResultStore(tmp_path).save(record())
        shard = write_shard(tmp_path / "x_val_000000.bin", np.arange(10, dtype=np.uint16))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(shard.stat().st_mode) == mode


def test_nan_is_written_as_null_and_the_record_says_what_it_was(tmp_path):
    r = record(curve=[CurvePoint(0, 0.0, None, 5.5), CurvePoint(10, 9.0, math.nan, math.inf)],
               final_val_loss=None, message="val loss is inf at step 10")
    path = ResultStore(tmp_path).save(r)

    def refuse(name):
        raise AssertionError(f"{name} is not JSON")
    d = json.loads(path.read_text(), parse_constant=refuse)
    assert d["curve"][1]["train_loss"] is None and d["curve"][1]["val_loss"] is None
    assert d["nonfinite"] == {"curve[1].train_loss": "nan", "curve[1].val_loss": "inf"}
    again = ResultStore(tmp_path).find("abc123")
    assert again.nonfinite == d["nonfinite"] and again.status == "diverged"


def test_a_second_trainer_of_one_identity_is_told_who_holds_it(tmp_path):
    with run_lock(tmp_path, "abc123"):
        with pytest.raises(RunLocked, match=rf"pid {os.getpid()} on .*not training it twice"):
            with run_lock(tmp_path, "abc123"):
                pass
        other = subprocess.run([sys.executable, "-c", "import sys; from remix.lock import run_lock\n"
                                f"with run_lock({str(tmp_path)!r}, 'abc123'): sys.exit(0)"],
                               capture_output=True, text=True, cwd=os.getcwd())
        assert other.returncode != 0 and f"being trained by pid {os.getpid()}" in other.stderr
    with run_lock(tmp_path, "abc123"):   # released on exit, and again free
        pass
    assert not list((tmp_path / ".locks").iterdir())


def test_a_killed_holder_leaves_no_lock(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; from remix.lock import run_lock\n"
                             f"with run_lock({str(tmp_path)!r}, 'abc123'):\n print('held', flush=True); time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(RunLocked):
        with run_lock(tmp_path, "abc123"):
            pass
    proc.kill()
    proc.wait()
    with run_lock(tmp_path, "abc123"):   # the kernel dropped the dead holder's lock
        pass


def test_a_run_that_ends_above_where_it_began_is_unstable():
    from remix.execute import _check_stable
    r = record(status="finished", curve=[CurvePoint(0, 0.0, None, 10.8), CurvePoint(30, 9.0, 80.0, 89.5)],
               final_val_loss=89.5, steps_done=30)
    _check_stable(r)
    assert r.status == "unstable" and "89.5000 at step 30, 10.8000 at step 0" in r.message
    ok = record(status="finished", curve=[CurvePoint(0, 0.0, None, 10.8), CurvePoint(30, 9.0, 4.0, 4.1)],
                final_val_loss=4.1, steps_done=30)
    _check_stable(ok)
    assert ok.status == "finished"
