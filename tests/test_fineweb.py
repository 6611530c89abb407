"""`remix data fineweb`: the download logic against fakes, never the network.

A fake `fetch` checks what is asked for and skipped; a local HTTP server that answers like the hub's
file endpoint checks the real huggingface_hub path: download, a dropped connection, no network.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from remix.data import DataError, load_tokens, open_dataset, write_shard
from remix.data.cli import app
from remix.data.fineweb import VARIANTS, download, shard_names

REPO = VARIANTS["10B"].repo


class FakeHub:
    """A local stand-in for the Hugging Face hub's file endpoint (HEAD + GET, with Range)."""

    def __init__(self):
        self.files: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.cut: set[str] = set()   # file names whose GET stops halfway (a dropped connection)
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._serve(body=False)

            def do_GET(self):
                self._serve(body=True)

            def _serve(self, body):
                parts = self.path.split("?")[0].split("/")  # /datasets/{owner}/{name}/resolve/{rev}/{file}
                key = ("/".join(parts[2:4]), "/".join(parts[6:])) if len(parts) >= 7 else None
                hub.requests.append((self.command, key[1] if key else self.path, self.headers.get("Range")))
                data = hub.files.get(key)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                if body and self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("X-Repo-Commit", "0" * 40)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if body:
                    if key[1] in hub.cut:
                        self.wfile.write(data[start:start + (len(data) - start) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(data[start:])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def shard_bytes(tmp_path: Path, n: int, seed: int) -> bytes:
    path = write_shard(tmp_path / f"src{seed}.bin", np.random.default_rng(seed).integers(0, 50257, n))
    return path.read_bytes()


def use_endpoint(monkeypatch, url: str) -> None:
    """Downloads go to url (HF_ENDPOINT, which remix reads at call time). huggingface_hub's one side
    request (a registry it fetches from the endpoint it saw at import) is switched off, so nothing
    leaves the machine whichever test imported huggingface_hub first."""
    pytest.importorskip("huggingface_hub")
    import huggingface_hub.utils as hf_utils
    monkeypatch.setenv("HF_ENDPOINT", url)
    detect = getattr(hf_utils, "_detect_agent", None)
    if detect is not None and hasattr(detect, "_fetch_registry"):
        monkeypatch.setattr(detect, "_fetch_registry", lambda: None)
    monkeypatch.setattr("time.sleep", lambda s: None)  # huggingface_hub's retry back-off


@pytest.fixture
def hub(tmp_path, monkeypatch):
    h = FakeHub()
    for i in range(4):
        name = f"fineweb_val_{i:06d}.bin" if i == 0 else f"fineweb_train_{i:06d}.bin"
        h.files[(REPO, name)] = shard_bytes(tmp_path, 1000 + i, i)
    use_endpoint(monkeypatch, h.endpoint)
    yield h
    h.close()


def test_names_follow_the_speedrun():
    assert shard_names(VARIANTS["10B"], 2) == ["fineweb_val_000000.bin", "fineweb_train_000001.bin",
                                               "fineweb_train_000002.bin"]
    assert shard_names(VARIANTS["edu10B"], 1)[1] == "finewebedu_train_000001.bin"
    assert VARIANTS["100B"].train_shards == 1030 and VARIANTS["10B"].train_shards == 103
    with pytest.raises(DataError, match="between 0 and 103"):
        shard_names(VARIANTS["10B"], 104)


def test_complete_files_are_skipped_and_downloads_checked(tmp_path):
    asked = []

    def fetch(repo, name, local_dir):
        asked.append(name)
        path = Path(local_dir) / name
        path.write_bytes(shard_bytes(tmp_path, 10, len(asked)) if name != "fineweb_train_000002.bin" else b"junk")
        return str(path)

    dest = tmp_path / "fw"
    write_shard(dest / "fineweb_train_000001.bin", [1, 2, 3])          # complete: kept
    (dest / "fineweb_val_000000.bin").write_bytes(b"\0" * 1500)        # broken: fetched again
    with pytest.raises(DataError, match=r"fineweb_train_000002.bin.*not a token shard.*removed"):
        download("10B", 2, dest, fetch=fetch, log=lambda m: None)
    assert asked == ["fineweb_val_000000.bin", "fineweb_train_000002.bin"]
    assert not (dest / "fineweb_train_000002.bin").exists()
    assert load_tokens(dest / "fineweb_train_000001.bin").tolist() == [1, 2, 3]


def test_download_through_huggingface_hub(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("REMIX_DATA", str(tmp_path / "data"))
    paths = download("10B", 3, log=lambda m: None)
    assert [p.name for p in paths] == ["fineweb_val_000000.bin"] + [f"fineweb_train_{i:06d}.bin" for i in (1, 2, 3)]
    for p in paths:
        assert p.read_bytes() == hub.files[(REPO, p.name)]
    ds = open_dataset("fineweb")
    assert ds.train_tokens == 1001 + 1002 + 1003 and ds.val_tokens == 1000
    hub.requests.clear()
    download("10B", 3, log=lambda m: None)
    assert not [r for r in hub.requests if r[1].endswith(".bin")]  # all complete: the hub is not asked


def test_dropped_connection_leaves_nothing_under_the_final_name(hub, tmp_path):
    dest = tmp_path / "fw"
    hub.cut.add("fineweb_val_000000.bin")
    with pytest.raises(DataError, match=r"could not download fineweb_val_000000.bin.*run the same command again"):
        download("10B", 0, dest, log=lambda m: None)
    assert not (dest / "fineweb_val_000000.bin").exists()
    hub.cut.clear()
    download("10B", 0, dest, log=lambda m: None)
    assert (dest / "fineweb_val_000000.bin").read_bytes() == hub.files[(REPO, "fineweb_val_000000.bin")]


def test_a_file_missing_on_the_hub(hub, tmp_path):
    del hub.files[(REPO, "fineweb_train_000002.bin")]
    with pytest.raises(DataError, match=r"fineweb_train_000002.bin is not in .*fewer --train-shards"):
        download("10B", 2, tmp_path, log=lambda m: None)


def test_no_network_is_a_clear_cli_error(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}")
    r = CliRunner().invoke(app, ["fineweb", "--train-shards", "1", "--dir", str(tmp_path / "fw")])
    assert r.exit_code == 2, r.output
    assert "could not download fineweb_val_000000.bin" in r.output and "Check the network" in r.output
    assert "Traceback" not in r.output
    assert not list((tmp_path / "fw").glob("*.bin"))


def test_cli_downloads(hub, tmp_path):
    r = CliRunner().invoke(app, ["fineweb", "--train-shards", "1", "--dir", str(tmp_path / "fw")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "fw").glob("*.bin")) == ["fineweb_train_000001.bin",
                                                                    "fineweb_val_000000.bin"]
