"""`remix data`: get FineWeb from the hub, or tokenize your own text into shards.

Mounted by remix/cli.py as `remix data`. Bad input or a failed download prints one line to stderr and
exits with code 2, no traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from remix.data.errors import DataError
from remix.data.tokenize_text import DEFAULT_SHARD_TOKENS, DEFAULT_VAL_TOKENS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Get FineWeb, or tokenize your own text into shards.")


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


@app.command()
def fineweb(
    train_shards: Optional[int] = typer.Option(
        None, "--train-shards", help="How many 100M-token train shards to get (default: all the variant has). "
        "The speedrun baselines need 14 (M) and 24 (A)."),
    dir: Optional[Path] = typer.Option(
        None, "--dir", help="Where to put them (default: $REMIX_DATA/<variant dir>, $REMIX_DATA defaults to ./data)."),
    variant: str = typer.Option("10B", "--variant", help="10B (fineweb10B), 100B (fineweb100B) or edu10B "
                                "(finewebedu10B)."),
) -> None:
    """Download FineWeb GPT-2 token shards (the val shard and the first N train shards)."""
    from remix.data.fineweb import download
    try:
        paths = download(variant, train_shards, dir)
    except DataError as e:
        _fail(str(e))
    print(f"{len(paths)} shards in {paths[0].parent}", file=sys.stderr)


@app.command()
def tokenize(
    files: List[Path] = typer.Argument(..., help="Text (.txt, one document per file), JSONL (.jsonl) or Parquet "
                                       "(.parquet) files, or directories of them; .gz is read too."),
    out: Path = typer.Option(..., "--out", help="Directory to write the shards to."),
    val_tokens: int = typer.Option(DEFAULT_VAL_TOKENS, "--val-tokens", help="Tokens in the val shard (the first of the "
                                   "stream); at least the eval tokens + 1."),
    shard_tokens: int = typer.Option(DEFAULT_SHARD_TOKENS, "--shard-tokens", help="Tokens per train shard."),
    name: Optional[str] = typer.Option(None, "--name", help="File prefix: NAME_val_000000.bin, "
                                       "NAME_train_000001.bin, ... (default: the --out directory's name)."),
    lines: bool = typer.Option(False, "--lines", help="Plain text: one document per line, not per file."),
    field: str = typer.Option("text", "--field", help="JSONL field / Parquet column holding the text."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: the CPUs, at most 8)."),
    gpt2_dir: Optional[Path] = typer.Option(None, "--gpt2-dir", help="Directory with GPT-2's encoder.json and "
                                            "vocab.bpe, to tokenize without network."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace shards of the same name in --out."),
) -> None:
    """Tokenize text with GPT-2 (BOS 50256 before every document) into speedrun shards."""
    from remix.data.tokenize_text import tokenize_files
    try:
        meta = tokenize_files(files, out, val_tokens=val_tokens, shard_tokens=shard_tokens, name=name,
                              lines=lines, field=field, workers=workers, gpt2_dir=gpt2_dir, overwrite=overwrite)
    except DataError as e:
        _fail(str(e))
    t = meta["tokens"]
    print(f"{meta['documents']:,} documents: {t['val']:,} val + {t['train']:,} train tokens in "
          f"{len(meta['files'])} shards under {out}; train on it with --set data.source={os.fspath(out)} "
          f"(or data.source in a recipe's [overrides])", file=sys.stderr)
