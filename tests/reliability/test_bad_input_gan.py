"""Bad inputs to the GAN core and `gantune train`: one GanTuneError / one stderr line each.

Missing values and text columns are no longer bad input (they are modelled); what is: a
column with no values, a column mixing numbers and words, infinite values, a table with no
column left to model, and metadata files that contradict the table.

Every case is checked twice: `load_data` (or `Trainer`) raises a single-line `GanTuneError` that
names the file and the problem, and `gantune train --data ...` exits 2 with exactly one stderr
line `gantune: error: ...` and writes no output directory.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from gan.config import GANConfig
from gan.data import load_data
from gan.errors import GanTuneError
from gan.train import Trainer
from tests.conftest import make_frame, run_cli
from tuning.cli import main

pytestmark = pytest.mark.usefixtures("one_thread", "restore_logging")

BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


def write(name: str, content: str | bytes | Callable[[Path], None] | None) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        return path

    return build


def nan_table(path: Path) -> None:
    frame = make_frame(40, 3)
    frame.columns = ["a", "b", "c"]
    frame.loc[[1, 7], "a"] = np.nan
    frame.loc[4, "b"] = np.inf
    frame.to_csv(path, index=False)


def gz_csv(path: Path) -> None:
    path.write_bytes(gzip.compress(make_frame(40, 2).to_csv(index=False).encode()))


def truncated_gz(path: Path) -> None:
    path.write_bytes(gzip.compress(make_frame(400, 2).to_csv(index=False).encode())[:300])


def parquet_garbage(path: Path) -> None:
    path.write_bytes(BINARY)


def mixed(path: Path) -> None:
    frame = make_frame(40, 2)
    frame["c"] = ["u", "v"] * 20
    frame.to_csv(path, index=False)


def only_identifiers(path: Path) -> None:
    pd.DataFrame({"id": np.arange(1, 26), "name": [f"person {i}" for i in range(25)]}).to_csv(path, index=False)


def all_missing(path: Path) -> None:
    frame = make_frame(40, 2)
    frame["empty"] = np.nan
    frame.to_csv(path, index=False)


def numbers_and_words(path: Path) -> None:
    frame = make_frame(40, 2)
    frame["dose"] = [f"{v:.2f}" for v in np.linspace(0, 5, 40)]
    frame.loc[[3, 9, 20], "dose"] = "unknown"
    frame.to_csv(path, index=False)


def metadata_for(doc: str) -> Callable[[Path], None]:
    """A table plus a metadata file beside it (meta.yaml) holding `doc`."""

    def build(path: Path) -> None:
        mixed(path)
        (path.parent / "meta.yaml").write_text(doc)

    return build


def spaces(path: Path) -> None:
    path.write_text(make_frame(40, 3).to_csv(index=False, sep=" "))


def huge(path: Path) -> None:
    # Many distinct values (two would make a category): max - min overflows float64.
    frame = make_frame(40, 2)
    frame["x1"] = np.random.default_rng(0).uniform(-1.0, 1.0, 40) * 1e308
    frame.loc[0, "x1"], frame.loc[1, "x1"] = 1.7e308, -1.7e308
    frame.to_csv(path, index=False)


@dataclass
class Case:
    id: str
    build: Callable[[Path], Path]
    needles: list[str]
    args: list[str] = field(default_factory=list)
    names: str | None = None  # the file the message must name (default: the data file)


CASES = [
    Case("missing-file", write("nope.csv", None), ["no such file", "built-in"]),
    Case("directory", lambda tmp: (tmp / "adir").mkdir() or tmp / "adir", ["is a directory"]),
    Case("empty-file", write("empty.csv", ""), ["file is empty"]),
    Case("whitespace-only", write("blank.csv", "\n\n  \n"), ["empty"]),
    Case("header-only", write("header.csv", "a,b,c\n"), ["no data rows"]),
    Case("only-identifiers", write("ids.csv", only_identifiers), ["no column left to model", "id: identifier", "name: identifier", "--metadata"]),
    Case("space-separated", write("spaces.csv", spaces), ["separator", "save it with ',', ';', tab or '|'"]),
    Case("infinite-values", write("nan.csv", nan_table), ["'b'", "infinite values"]),
    Case("all-missing-column", write("gaps.csv", all_missing), ["'empty' has no values", "all 40 missing", "empty: ignore"]),
    Case("numbers-and-words", write("dose.csv", numbers_and_words), ["'dose'", "mixes numbers", "--na-values 'unknown'", "metadata file"]),
    Case("metadata-names-a-missing-column", write("mixed.csv", metadata_for("columns:\n  q: numeric\n")),
         ["meta.yaml", "'q' is not in", "x0, x1, c"], ["--metadata", "{dir}/meta.yaml"]),
    Case("metadata-bad-type", write("mixed.csv", metadata_for("columns:\n  c: text\n")),
         ["'c'", "numeric, integer, categorical, date, datetime, ignore"], ["--metadata", "{dir}/meta.yaml"], names="meta.yaml"),
    Case("metadata-declares-text-numeric", write("mixed.csv", metadata_for("columns:\n  c: numeric\n")),
         ["'c' is declared numeric but holds text such as 'u'"], ["--metadata", "{dir}/meta.yaml"]),
    Case("one-row", write("one.csv", "a,b\n1.0,2.0\n"), ["only 1 usable row"]),
    Case("all-rows-nan-dropna", write("allnan.csv", "a,b\n1,\n,2\nnan,3\n"), ["only 0 usable row"], ["--dropna"]),
    Case("duplicated-columns", write("dup.csv", "a,b,a\n1,2,3\n4,5,6\n7,8,9\n"), ["duplicated column", "'a'"]),
    Case("binary-garbage", write("garbage.csv", BINARY), ["not a text CSV"]),
    Case("undecodable-text", write("odd.csv", b"a,b\n\x81\x8d,1\nx,2\n"), ["neither UTF-8 nor Windows-1252 text", "save it as UTF-8"]),
    Case("gzip-named-csv", write("packed.csv", gz_csv), ["not a text CSV"]),
    Case("truncated-gzip", write("cut.csv.gz", truncated_gz), ["cannot be read as CSV", "end-of-stream"]),
    Case("excel-workbook", write("sales.xlsx", b"PK\x03\x04" + BINARY), ["a spreadsheet workbook", "Save As > CSV UTF-8"]),
    Case("a-pipe", write("fifo.csv", lambda p: os.mkfifo(p)), ["not a regular file", "save the table to a file"]),
    Case("garbage-parquet", write("garbage.parquet", parquet_garbage), ["cannot be read as Parquet"]),
    Case("named-column-missing", write("mixed.csv", mixed), ["'q'", "not found", "x0, x1, c"], ["--columns", "x0,q"]),
    Case("holdout-too-large", write("small.csv", "a,b\n1,2\n3,4\n5,6\n"), ["holdout", "--holdout"], ["--holdout", "0.5"]),
    Case("range-overflows", write("huge.csv", huge), ["'x1'", "too wide"]),
    Case("fewer-rows-than-batch", write("twenty.csv", lambda p: make_frame(20, 3).to_csv(p, index=False)),
         ["20 training rows", "batch_size is 32"]),
]


def _args(case: Case, tmp: Path) -> list[str]:
    return [a.format(dir=tmp) for a in case.args]


def _load(path: Path, args: list[str]):
    kw = {}
    if "--metadata" in args:
        kw["metadata"] = args[args.index("--metadata") + 1]
    if "--columns" in args:
        kw["columns"] = args[args.index("--columns") + 1].split(",")
    if "--dropna" in args:
        kw["dropna"] = True
    if "--holdout" in args:
        kw["holdout"] = float(args[args.index("--holdout") + 1])
    data = load_data(path, **kw)
    Trainer(GANConfig(), data, "cpu")  # the batch-size check


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_library_raises_one_helpful_error(tmp_path, case):
    path = case.build(tmp_path)
    with pytest.raises(GanTuneError) as err:
        _load(path, _args(case, tmp_path))
    msg = str(err.value)
    assert "\n" not in msg
    assert (case.names or path.name) in msg, msg
    for needle in case.needles:
        assert needle in msg, msg


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_train_exits_2_with_one_line_and_no_output(tmp_path, capsys, case):
    # only-identifiers fails today (a product bug, see the report): gan/data.py load_data logs
    # a "leaving out column" warning per column (lines 271-272) before raising "no column left to
    # model" (line 275), whose message already gives every reason: three lines instead of one.
    path = case.build(tmp_path)
    out = tmp_path / "model-out"
    status = main(["train", "--data", str(path), *_args(case, tmp_path), "--epochs", "2", "--out", str(out), "-q"])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("gantune: error: ") and (case.names or path.name) in lines[0]
    assert captured.out == ""
    assert not out.exists()
    assert not list(tmp_path.glob(".model-out*"))  # no temporary directory either


def test_dropna_recovers_the_nan_file(tmp_path, capsys):
    path = write("nan.csv", nan_table)(tmp_path)
    data = load_data(path, dropna=True)
    assert len(data.values) == 37 and np.isfinite(data.values).all()
    out = tmp_path / "m"
    assert main(["train", "--data", str(path), "--dropna", "--epochs", "2", "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert "dropped 3 row(s)" in err and "error" not in err
    assert (out / "generator.pt").is_file()


def test_text_columns_are_modelled_not_fatal(tmp_path, capsys):
    path = write("mixed.csv", mixed)(tmp_path)
    out = tmp_path / "m"
    assert main(["train", "--data", str(path), "--epochs", "2", "--out", str(out), "-q"]) == 0
    assert "error" not in capsys.readouterr().err
    import json

    spec = json.loads((out / "transformer.json").read_text())
    assert [c["name"] for c in spec["columns"]] == ["x0", "x1", "c"]
    assert spec["columns"][2]["kind"] == "categorical" and spec["columns"][2]["categories"] == ["u", "v"]


def test_missing_values_are_modelled_without_dropna(tmp_path, capsys):
    path = tmp_path / "gaps.csv"
    frame = make_frame(40, 3)
    frame.loc[[1, 7], "x0"] = np.nan
    frame.to_csv(path, index=False)
    out = tmp_path / "m"
    assert main(["train", "--data", str(path), "--epochs", "2", "--out", str(out), "-q"]) == 0
    import json

    spec = json.loads((out / "transformer.json").read_text())
    assert spec["columns"][0]["missing"] == pytest.approx(0.05)
    assert json.loads((out / "data.json").read_text())["n_rows"] == 40


def test_na_values_recovers_the_numbers_and_words_file(tmp_path, capsys):
    path = write("dose.csv", numbers_and_words)(tmp_path)
    data = load_data(path, na_values=["unknown"])
    j = data.columns.index("dose")
    assert data.specs[j].kind == "numeric" and data.specs[j].decimals == 2
    assert np.isnan(data.values[:, j]).sum() == 3
    out = tmp_path / "m"
    assert main(["train", "--data", str(path), "--na-values", "unknown", "--epochs", "2", "--out", str(out), "-q"]) == 0


@pytest.mark.parametrize(
    "content, needle",
    [("{\"epochs\": 5, \"lr\": 0.1}", "unknown GANConfig field(s) lr"),
     ("{\"g_widths\": [\"a\"]}", "g_widths"),
     ("{\"seed\": -1}", "seed"),
     ("{\"batch_size\": 36, \"pac\": 8}", "batch_size 36 must be a multiple of pac 8"),
     ("{not json", "not valid JSON")],
)
def test_bad_config_file_is_one_line(tmp_path, capsys, content, needle):
    cfg = tmp_path / "c.json"
    cfg.write_text(content)
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "m"), "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gantune: error: ") and needle in lines[0]
    assert not (tmp_path / "m").exists()


def test_negative_seed_on_the_command_line(tmp_path, capsys):
    assert main(["train", "--seed", "-1", "--out", str(tmp_path / "m"), "-q"]) == 2
    assert "seed must be a non-negative integer" in capsys.readouterr().err


@pytest.mark.parametrize("case_id", ["binary-garbage"])  # each new process costs ~5 s of imports
def test_console_script_prints_one_line_no_traceback(tmp_path, case_id):
    case = next(c for c in CASES if c.id == case_id)
    path = case.build(tmp_path)
    out = tmp_path / "m"
    proc = run_cli("train", "--data", str(path), *_args(case, tmp_path), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("gantune: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "make_out, needle",
    [
        (lambda tmp: tmp / "no" / "such" / "parent", "does not exist"),
        (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", "not a directory"),
    ],
    ids=["missing-parent", "out-is-a-file"],
)
def test_bad_out_path_fails_before_training(tmp_path, capsys, make_out, needle):
    out = make_out(tmp_path)
    assert main(["train", "--out", str(out), "-q"]) == 2  # default 10,000 epochs: must not start
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gantune: error: ") and needle in lines[0]


def test_bad_config_path_is_one_line(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "m")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "missing.yaml" in lines[0] and "not found" in lines[0]
