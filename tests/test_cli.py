"""The `gantune` train / sample / evaluate commands, mostly in-process through `main(argv)`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gan.bundle import load_bundle
from gan.data import load_data
from tests.conftest import make_frame, make_mixed_frame, run_cli
from tuning.cli import main

pytestmark = pytest.mark.usefixtures("one_thread", "restore_logging")

BUNDLE_FILES = {"bundle.json", "config.json", "transformer.json", "data.json", "generator.pt", "discriminator.pt",
                "metrics.json", "histograms.png"}


def error_line(capsys, *, only: bool = True) -> str:
    """The one `gantune: error:` line; with `only`, stderr holds nothing else (no log, no traceback)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("gantune: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    if only:
        assert lines == errors, err
    return errors[0]


def test_train_writes_a_complete_bundle(tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", "--epochs", "3", "--seed", "2", "--out", str(out), "-q"]) == 0
    stdout = capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == BUNDLE_FILES
    assert (out / "histograms.png").read_bytes()[:4] == b"\x89PNG"
    assert "MEAN" in stdout and f"bundle written to {out}" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["steps"] == 5  # 3 epochs of 50 rows at batch 32
    assert math.isfinite(metrics["wd_mean"])
    assert set(metrics["references"]) == {"gaussian", "resample"}
    bundle = load_bundle(out)
    assert bundle.config.epochs == 3 and bundle.config.seed == 2
    assert bundle.columns == load_data("iris-setosa").columns
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp dirs left behind


def test_train_budget_flags_replace_the_configs_budget_in_either_unit(tmp_path, capsys):
    """--epochs on a config that sets steps (every exported best_config.json does) trained the
    config's steps and ignored the flag; --steps did not exist. Both now replace the budget,
    eval_every follows the new unit, and giving both is a usage error."""
    cfg = tmp_path / "best_config.json"
    cfg.write_text(json.dumps({"steps": 40, "eval_every": 20, "eval_samples": 100}))
    out = tmp_path / "by-epochs"
    assert main(["train", "--config", str(cfg), "--epochs", "3", "--out", str(out), "-q"]) == 0
    config = load_bundle(out).config
    assert json.loads((out / "metrics.json").read_text())["steps"] == 5  # 3 epochs of 50 rows at batch 32, not 40
    assert (config.steps, config.epochs, config.eval_every) == (None, 3, 1)
    out = tmp_path / "by-steps"
    assert main(["train", "--config", str(cfg), "--steps", "7", "--out", str(out), "-q"]) == 0
    config = load_bundle(out).config
    assert json.loads((out / "metrics.json").read_text())["steps"] == 7
    assert (config.steps, config.eval_every) == (7, 20)  # same unit: the config's eval_every kept
    out = tmp_path / "default-by-steps"
    assert main(["train", "--steps", "30", "--out", str(out), "-q"]) == 0
    config = load_bundle(out).config
    assert json.loads((out / "metrics.json").read_text())["steps"] == 30 and config.eval_every == 3  # was 500 epochs
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "3", "--steps", "7", "--out", str(tmp_path / "both")])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "both").exists()


def test_train_with_config_file_and_csv_columns(tmp_path, capsys, csv_100):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("g_widths: [8]\nd_widths: [8]\nbatch_size: 16\neval_samples: 100\n")
    out = tmp_path / "m"
    assert main(["train", "--data", str(csv_100), "--columns", "x2,x0", "--config", str(cfg),
                 "--epochs", "2", "--out", str(out), "-q"]) == 0
    bundle = load_bundle(out)
    assert bundle.columns == ["x2", "x0"]
    assert bundle.config.g_widths == (8,) and bundle.config.batch_size == 16 and bundle.config.epochs == 2


def test_train_refuses_existing_non_empty_out_without_force(tmp_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["train", "--epochs", "2", "--out", str(out), "-q"]) == 2
    line = error_line(capsys)
    assert "--force" in line and str(out) in line
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert main(["train", "--epochs", "2", "--out", str(out), "-q", "--force"]) == 0
    assert {p.name for p in out.iterdir()} == BUNDLE_FILES


def test_train_into_existing_empty_dir(tmp_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    assert main(["train", "--epochs", "2", "--out", str(out), "-q"]) == 0
    assert {p.name for p in out.iterdir()} == BUNDLE_FILES


def test_train_diverging_config_is_an_error_without_output(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"loss": "wgan-gp", "g_lr": 1e6, "d_lr": 1e6, "eval_every": 5}))
    out = tmp_path / "m"
    assert main(["train", "--config", str(cfg), "--epochs", "20", "--out", str(out), "-q"]) == 2
    line = error_line(capsys, only=False)  # after the "training on cpu" log line
    assert "diverged at step" in line and "g_lr" in line
    assert not out.exists()


def test_sample_to_csv_and_stdout(tmp_path, capsys, tiny_bundle):
    out = tmp_path / "rows.csv"
    assert main(["sample", str(tiny_bundle), "-n", "25", "-o", str(out), "--seed", "4"]) == 0
    assert "wrote 25 rows x 4 columns" in capsys.readouterr().out
    rows = pd.read_csv(out)
    assert rows.shape == (25, 4) and list(rows.columns) == load_bundle(tiny_bundle).columns

    assert main(["sample", str(tiny_bundle), "-n", "25", "--seed", "4"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    from io import StringIO

    np.testing.assert_allclose(pd.read_csv(StringIO(captured.out)).to_numpy(), rows.to_numpy())


@pytest.mark.parametrize(
    "args, needle",
    [
        (["-o", "{tmp}"], "is a directory"),
        (["-o", "{tmp}/no/such/dir/x.csv"], "does not exist"),
    ],
)
def test_sample_bad_output_paths(tmp_path, capsys, tiny_bundle, args, needle):
    args = [a.format(tmp=tmp_path) for a in args]
    assert main(["sample", str(tiny_bundle), *args]) == 2
    assert needle in error_line(capsys)


def test_sample_from_missing_bundle(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "nope")]) == 2
    assert "nope" in error_line(capsys)


def test_evaluate_bundle_table_json_and_figure(tmp_path, capsys, tiny_bundle):
    fig = tmp_path / "h.png"
    assert main(["evaluate", str(tiny_bundle), "--figure", str(fig), "-n", "300"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["column", "wd", "wd_orig", "gaussian", "resample"]
    assert any(line.startswith("MEAN") for line in lines)
    assert "sepal length (cm)" in out and f"histograms written to {fig}" in out
    assert "cond_wd" not in out  # four numbers, no label: no within-label score to show
    assert fig.read_bytes()[:4] == b"\x89PNG"

    fig.unlink()
    assert main(["evaluate", str(tiny_bundle), "--figure", "", "-n", "300", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not fig.exists()
    assert report["columns"] == load_bundle(tiny_bundle).columns
    assert math.isfinite(report["wd_mean"]) and len(report["wd"]) == 4
    # The copier's per-column distance beats the Gaussian fit's (that is why the guard exists).
    assert report["references"]["resample"]["wd_mean"] < report["references"]["gaussian"]["wd_mean"]
    # The table's MEAN is the JSON's wd_mean, to 4 decimals.
    mean_line = next(line for line in lines if line.startswith("MEAN"))
    assert mean_line.split()[1] == f"{report['wd_mean']:.4f}"


def test_evaluate_csv_of_real_rows_scores_near_zero(tmp_path, capsys):
    real = load_data("iris-setosa")
    csv = tmp_path / "real.csv"
    real.frame().to_csv(csv, index=False)
    fig = tmp_path / "h.png"
    assert main(["evaluate", str(csv), "--json", "--figure", str(fig)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["wd_mean"] == 0.0  # the very rows, read back exactly
    assert report["copy_share"] == 1.0 and report["passes_guard"] is False  # and they are copies
    assert fig.is_file()


def test_evaluate_shows_dates_in_days_and_no_unit_where_there_is_none(tmp_path, capsys):
    """A datetime column's wd_orig is in seconds (the JSON keeps it so, naming the type); the
    table shows it in days. A categorical column's wd_orig is its wd (no unit): '-', and so is the
    mean of wd_orig over columns of different kinds (it averaged seconds with centimetres)."""
    rng = np.random.default_rng(0)
    n = 300
    stamps = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 86400, n), unit="s")
    real = pd.DataFrame({"when": stamps.strftime("%Y-%m-%d %H:%M:%S"), "size": np.round(rng.normal(10, 2, n), 2),
                         "colour": rng.choice(["red", "blue", "green"], n)})
    fake = real.sample(frac=1, random_state=1).reset_index(drop=True)
    fake["when"] = (pd.to_datetime(fake["when"]) + pd.Timedelta(days=30)).dt.strftime("%Y-%m-%d %H:%M:%S")  # 30 days late
    real.to_csv(tmp_path / "real.csv", index=False)
    fake.to_csv(tmp_path / "fake.csv", index=False)
    args = ["evaluate", str(tmp_path / "fake.csv"), "--data", str(tmp_path / "real.csv"), "--figure", ""]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["column_types"] == ["datetime", "numeric", "categorical"]
    assert report["wd_orig"][0] == pytest.approx(30 * 86400, rel=0.02)  # seconds
    assert main(args) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:6]}
    assert rows["when"][2:4] == [f"{report['wd_orig'][0] / 86400:.4g}", "days"]
    assert rows["size"][2] == f"{report['wd_orig'][1]:.4g}"
    assert rows["colour"][2] == "-" and rows["MEAN"][2] == "-"
    # Numbers within each label (cond_wd): the late dates are the worst pair, in the JSON too.
    assert report["cond_wd_worst"]["column"] == "when" and report["cond_wd_worst"]["by"] == "colour"
    # Every colour's dates moved by exactly 30 days: that, in scaled units (half the range = 1).
    seconds = (pd.to_datetime(real["when"]) - pd.Timestamp("1970-01-01")).dt.total_seconds()
    assert report["cond_wd_worst"]["model"] == pytest.approx(30 * 86400 / (np.ptp(seconds) / 2), rel=1e-5)
    assert main(args) == 0
    assert f"cond_wd's worst pair: when within each colour, {report['cond_wd_worst']['model']:.3f}" in capsys.readouterr().out


def test_evaluate_csv_scores_like_the_bundle(tmp_path, capsys, tiny_bundle):
    csv = tmp_path / "gen.csv"
    assert main(["sample", str(tiny_bundle), "-n", "400", "-o", str(csv), "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(csv), "--json", "--figure", ""]) == 0
    from_csv = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(tiny_bundle), "-n", "400", "--seed", "1", "--json", "--figure", ""]) == 0
    from_bundle = json.loads(capsys.readouterr().out)
    assert from_csv["wd_mean"] == pytest.approx(from_bundle["wd_mean"], rel=1e-6)


def test_evaluate_csv_missing_a_column_is_a_clear_error(tmp_path, capsys):
    real = load_data("iris-setosa")
    csv = tmp_path / "gen.csv"
    real.frame().iloc[:, :3].to_csv(csv, index=False)
    assert main(["evaluate", str(csv), "--figure", ""]) == 2
    line = error_line(capsys)
    assert "petal width (cm)" in line and "gen.csv" in line


def test_evaluate_csv_with_text_cells_is_a_clear_error(tmp_path, capsys):
    frame = make_frame(50, 4)
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[3, "x1"] = "oops"
    csv = tmp_path / "gen.csv"
    frame.to_csv(csv, index=False)
    data = tmp_path / "real.csv"
    make_frame(50, 4, seed=1).to_csv(data, index=False)
    assert main(["evaluate", str(csv), "--data", str(data), "--figure", ""]) == 2
    assert "'x1'" in error_line(capsys)


def test_evaluate_bundle_against_other_data_names_the_columns(capsys, tiny_bundle):
    assert main(["evaluate", str(tiny_bundle), "--data", "wine", "--figure", ""]) == 2
    assert "sepal length (cm)" in error_line(capsys)


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "0"])
    assert exc.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_subprocess_train_and_bad_input(tmp_path):
    """The real console script: success is quiet on stderr; a bad input is one line, exit 2."""
    out = tmp_path / "m"
    ok = run_cli("train", "--epochs", "2", "--out", str(out), "-q")
    assert ok.returncode == 0, ok.stderr
    assert "Traceback" not in ok.stderr and "Warning" not in ok.stderr
    # Only the one informational log line on stderr (2 epochs of 50 rows = 4 full batches).
    assert ok.stderr.strip().splitlines() == ["iris-setosa: 50 rows x 4 columns (4 numeric); training on cpu for 4 steps"]
    assert {p.name for p in out.iterdir()} == BUNDLE_FILES

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n" + "".join(f"{i},{i * 1.5}\n" for i in range(27)) + "1,unknown\n" * 3)
    proc = run_cli("train", "--data", str(bad), "--out", str(tmp_path / "m2"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("gantune: error: ")
    assert "'b'" in proc.stderr and "--na-values 'unknown'" in proc.stderr
    assert not (tmp_path / "m2").exists()


@pytest.mark.slow
def test_definition_of_done_default_training_reaches_target(tmp_path, capsys):
    """`gantune train` with the reference defaults (10,000 epochs = 15,625 steps; on iris-setosa
    the auto encoding is minmax for every column; rounding to the recorded 0.1 cm) reaches a
    useful model.

    Measured with this trainer, seeds 0 / 1 / 2: wd_mean 0.0645 / 0.0598 / 0.0444 (the Gaussian
    fit, decoded the same way, 0.0629: a single seed of the reference model is as likely to be
    a bit worse than it as better -- tuning is what beats it). The bound 0.07 catches a broken
    trainer (an untrained generator scores ~0.9, a collapsed one ~0.3) without flaking on seed
    noise; the resample reference always scores better (it copies)."""
    out = tmp_path / "m"
    assert main(["train", "--out", str(out), "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 15_625 and metrics["status"] == "completed"
    assert metrics["wd_mean"] < 0.07
    assert metrics["references"]["resample"]["wd_mean"] < metrics["wd_mean"]


def test_evaluate_header_only_csv_is_a_clear_error(tmp_path, capsys):
    csv = tmp_path / "gen.csv"
    csv.write_text(",".join(load_data("iris-setosa").columns) + "\n")
    assert main(["evaluate", str(csv), "--figure", ""]) == 2
    assert "no generated rows" in error_line(capsys)


def test_evaluate_bundle_trained_on_a_relative_csv_from_another_directory(tmp_path, capsys, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    make_frame(64, 3).to_csv(work / "table.csv", index=False)
    monkeypatch.chdir(work)
    assert main(["train", "--data", "table.csv", "--epochs", "2", "--out", "m", "-q"]) == 0
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(work / "m"), "--json", "--figure", "", "-n", "200"]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == ["x0", "x1", "x2"]


# -- real tables: mixed types, missing values, metadata ---------------------------------------
@pytest.fixture
def mixed_csvs(tmp_path):
    """A real table and a peer tool's synthetic table of it, written the way other tools write
    them: missing cells empty, integers as floats (12.0), booleans as True / False."""
    real = tmp_path / "real.csv"
    make_mixed_frame(300, seed=0).to_csv(real, index=False)
    synth = make_mixed_frame(500, seed=1)
    synth["k"] = synth["k"].astype("float64")  # 12.0 where the real file has 12
    path = tmp_path / "synth.csv"
    synth.to_csv(path, index=False)
    return real, path


def test_evaluate_peer_csv_with_missing_values_and_categories(tmp_path, capsys, mixed_csvs):
    real, synth = mixed_csvs
    assert "12.0" in synth.read_text() or ".0," in synth.read_text()
    fig = tmp_path / "h.png"
    assert main(["evaluate", str(synth), "--data", str(real), "--json", "--figure", str(fig)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["columns"] == ["x", "y", "k", "c", "d", "flag"]
    assert len(report["wd"]) == 6 and all(math.isfinite(v) for v in report["wd"])
    # Same generating process, other seed: close to the real table, not copies of it.
    assert report["wd_mean"] < 0.1 and report["passes_guard"] is True
    assert set(report["references"]) == {"gaussian", "resample"}
    assert fig.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_csv_with_an_unseen_label_is_one_line_and_writes_nothing(tmp_path, capsys, mixed_csvs):
    real, synth = mixed_csvs
    frame = pd.read_csv(synth)
    frame.loc[4, "d"] = "zebra"
    frame.to_csv(synth, index=False)
    fig = tmp_path / "h.png"
    assert main(["evaluate", str(synth), "--data", str(real), "--json", "--figure", str(fig)]) == 2
    line = error_line(capsys)
    assert "'d'" in line and "'zebra'" in line and "synth.csv" in line
    assert not fig.exists()
    assert capsys.readouterr().out == ""


def test_train_sample_evaluate_a_mixed_table(tmp_path, capsys, mixed_csvs):
    real, _ = mixed_csvs
    out = tmp_path / "m"
    assert main(["train", "--data", str(real), "--config", str(_tiny_config(tmp_path)), "--out", str(out), "-q"]) == 0
    assert "MEAN" in capsys.readouterr().out
    bundle = load_bundle(out)
    assert [s.kind for s in bundle.transformer.specs] == ["numeric", "numeric", "integer", "categorical", "categorical", "categorical"]
    assert bundle.transformer.encoding == "auto"  # the CLI default: per column below
    assert set(bundle.transformer.column_encoding) == {"x", "y", "k"}
    assert set(bundle.transformer.column_encoding.values()) <= {"minmax", "normal"}
    assert bundle.transformer.layout.linear  # normal-encoded columns: G's linear slots
    rows_csv = tmp_path / "rows.csv"
    assert main(["sample", str(out), "-n", "300", "-o", str(rows_csv)]) == 0
    rows = pd.read_csv(rows_csv)
    assert list(rows.columns) == ["x", "y", "k", "c", "d", "flag"]
    assert set(rows["c"]) <= {"hi", "lo"} and set(rows["d"].dropna()) <= {"a", "b", "c", "d"}
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json", "--figure", "", "-n", "300"]) == 0
    assert math.isfinite(json.loads(capsys.readouterr().out)["wd_mean"])


def _tiny_config(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("steps: 20\neval_every: 10\neval_samples: 200\n")
    return cfg


def test_train_encoding_rounding_and_margin_flags_reach_the_bundle(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "--epochs", "2", "--encoding", "minmax", "--no-round", "--range-margin", "0.1",
                 "--out", str(out), "-q"]) == 0
    t = load_bundle(out).transformer
    assert (t.encoding, t.round_values, t.margin) == ("minmax", False, 0.1)
    rows = load_bundle(out).sample(500, seed=0)
    assert not np.allclose(rows.to_numpy(), np.round(rows.to_numpy(), 1))  # not rounded to the recorded 0.1 cm


def test_describe_prints_types_and_writes_a_metadata_file(tmp_path, capsys):
    frame = make_mixed_frame(60)
    frame.insert(0, "id", np.arange(60))
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    meta = tmp_path / "meta.yaml"
    assert main(["describe", "--data", str(data), "--write-metadata", str(meta)]) == 0
    out = capsys.readouterr().out
    assert "6 column(s) modelled, 1 left out" in out
    assert "id" in out and "left out: identifier" in out and "categorical, 2 labels (hi, lo)" in out
    import yaml

    doc = yaml.safe_load(meta.read_text())
    assert doc["columns"]["id"] == "ignore" and doc["columns"]["y"] == {"type": "numeric", "decimals": 2}
    assert doc["columns"]["k"] == "integer" and doc["columns"]["c"] == "categorical"
    # Edit it and train with it.
    doc["columns"]["c"] = "ignore"
    meta.write_text(yaml.safe_dump(doc))
    out_dir = tmp_path / "m"
    assert main(["train", "--data", str(data), "--metadata", str(meta), "--config", str(_tiny_config(tmp_path)),
                 "--out", str(out_dir), "-q"]) == 0
    assert load_bundle(out_dir).columns == ["x", "y", "k", "d", "flag"]
    # Not overwritten without --force.
    capsys.readouterr()
    assert main(["describe", "--data", str(data), "--write-metadata", str(meta)]) == 2
    assert "--force" in error_line(capsys)


def test_a_semicolon_decimal_comma_table_trains_and_samples_in_its_own_format(tmp_path, capsys):
    """A spreadsheet's ';' file with decimal commas trains like its ',' twin, and `gantune
    sample` writes the generated rows as that file was written, so the same spreadsheet opens
    them; reading them back gives the training table's columns and types."""
    frame = make_mixed_frame(300, seed=0)
    real = tmp_path / "real.csv"
    frame.to_csv(real, index=False, sep=";", decimal=",")
    assert any("," in cell for cell in real.read_text().splitlines()[1].split(";"))  # decimal commas
    out = tmp_path / "m"
    assert main(["train", "--data", str(real), "--config", str(_tiny_config(tmp_path)), "--out", str(out), "-q"]) == 0
    assert load_bundle(out).data["csv_format"] == {"sep": ";", "decimal": ",", "encoding": "utf-8"}
    capsys.readouterr()
    rows_csv = tmp_path / "rows.csv"
    assert main(["sample", str(out), "-n", "200", "-o", str(rows_csv)]) == 0
    assert "(';'-separated, decimal commas, as the table it was trained on)" in capsys.readouterr().out
    text = rows_csv.read_text()
    assert text.splitlines()[0] == ";".join(frame.columns)
    assert any("," in cell for line in text.splitlines()[1:20] for cell in line.split(";"))
    back = load_data(rows_csv, quiet=True)
    assert [(s.name, s.kind) for s in back.specs] == [(s.name, s.kind) for s in load_bundle(out).transformer.specs]
    # a ',' table's bundle samples ',' rows, as before
    frame.to_csv(tmp_path / "plain.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "plain.csv"), "--config", str(_tiny_config(tmp_path)), "--out", str(tmp_path / "p"), "-q"]) == 0
    assert "csv_format" not in load_bundle(tmp_path / "p").data
    assert main(["sample", str(tmp_path / "p"), "-n", "20", "-o", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == ",".join(frame.columns)


def test_an_excel_utf8_table_samples_rows_excel_reads_alike(tmp_path, capsys):
    """Excel's "CSV UTF-8" starts with a byte-order mark (without one, Excel reads the umlauts of
    generated rows as Windows-1252), writes dates day first and money as "1.234,50 €": the sample
    keeps all three."""
    frame = make_frame(120, 2).round(2).assign(
        stadt=["Köln", "München", "Bonn"] * 40,
        seit=[f"{1 + i % 28:02d}.{1 + i % 12:02d}.{1990 + i % 30}" for i in range(120)],
        preis=[f"{v:,.2f} €".translate(str.maketrans(",.", ".,")) for v in np.linspace(-20, 2500, 120)],
    )
    real = tmp_path / "excel.csv"
    frame.to_csv(real, index=False, sep=";", decimal=",", encoding="utf-8-sig")
    assert real.read_bytes().startswith(b"\xef\xbb\xbf")
    out = tmp_path / "m"
    assert main(["train", "--data", str(real), "--config", str(_tiny_config(tmp_path)), "--out", str(out), "-q"]) == 0
    spec = {s.name: s for s in load_bundle(out).transformer.specs}["seit"]
    assert (spec.dtype, spec.date_format) == ("date", "%d.%m.%Y")
    money = {s.name: s for s in load_bundle(out).transformer.specs}["preis"]
    assert (money.kind, money.suffix, money.decimals) == ("numeric", " €", 2)
    capsys.readouterr()
    rows = tmp_path / "rows.csv"
    assert main(["sample", str(out), "-n", "300", "-o", str(rows)]) == 0
    assert "UTF-8 text with a byte-order mark, as the table it was trained on" in capsys.readouterr().out
    raw = rows.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\xef\xbb\xbf") == 1
    back = pd.read_csv(rows, sep=";", encoding="utf-8-sig", dtype=str)
    assert list(back.columns) == list(frame.columns)
    assert back["seit"].dropna().str.fullmatch(r"\d\d\.\d\d\.\d{4}").all()
    assert back["preis"].dropna().str.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d\d €").all()
    assert set(back["stadt"].dropna()) <= {"Köln", "München", "Bonn"}
    # and gantune reads its own sample as the table it came from
    assert main(["evaluate", "--data", str(real), str(rows)]) == 0


def test_a_windows_1252_table_samples_windows_1252_rows(tmp_path, capsys):
    frame = make_frame(120, 2).round(2).assign(stadt=["Köln", "München", "Bonn"] * 40)
    real = tmp_path / "ansi.csv"
    frame.to_csv(real, index=False, sep=";", decimal=",", encoding="cp1252")
    out = tmp_path / "m"
    assert main(["train", "--data", str(real), "--config", str(_tiny_config(tmp_path)), "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    rows = tmp_path / "rows.csv"
    assert main(["sample", str(out), "-n", "300", "-o", str(rows)]) == 0
    assert "(';'-separated, decimal commas, Windows-1252 text, as the table it was trained on)" in capsys.readouterr().out
    raw = rows.read_bytes()
    assert b"M\xfcnchen" in raw or b"K\xf6ln" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
