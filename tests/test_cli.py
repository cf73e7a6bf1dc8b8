"""The ``ppm-array`` command line."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from ppm_array.cli import main
from ppm_array.experiments._output import atomic_path


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ppm_array.cli", *args], capture_output=True, text=True)


def test_help_for_each_command_shows_defaults_and_no_markup():
    for args in ((), ("shape-match",), ("bench",), ("semi-supervised",), ("generate",)):
        result = run_cli(*args, "--help")
        assert result.returncode == 0 and "usage: ppm-array" in result.stdout
        assert "``" not in result.stdout
    shape_help = run_cli("shape-match", "--help").stdout
    for option, default in (("--shape", "circle"), ("--metric", "paper"), ("--seeds", "1"), ("--steps", "2420"),
                            ("--n-subsamples", "2000"), ("--ppm-weights", "(1.0, 6000.0)"), ("--cramer", "paired")):
        assert option in shape_help
        assert f"(default: {default})" in " ".join(shape_help.split())
    semi_help = " ".join(run_cli("semi-supervised", "--help").stdout.split())
    assert "--protocol {ours,published,both}" in semi_help and "(default: ours)" in semi_help
    generate_help = " ".join(run_cli("generate", "--help").stdout.split())
    for option, default in (("--ppm-weights", "(0.001, 0.6)"), ("--bandwidth", "median"), ("--seed", "0")):
        assert option in generate_help and f"(default: {default})" in generate_help


def test_version():
    import ppm_array

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ppm-array {ppm_array.__version__}"


@pytest.mark.parametrize("args", [
    ("shape-match", "--steps", "0"),
    ("shape-match", "--shape", "square"),
    ("shape-match", "--loss", "l2"),
    ("shape-match", "--seed", "-1"),
    ("shape-match", "--bandwidth", "0"),
    ("shape-match", "--bandwidth", "wide"),
    ("shape-match", "--ppm-weights", "1"),
    ("shape-match", "--metric", "bottleneck"),
    ("shape-match", "--n-points", "many"),
    ("semi-supervised", "--protocol", "paper"),
    ("generate", "--gan-steps", "0"),
    ("generate", "--seeds", "-2"),
    ("generate", "--ppm-weights", "1"),
    ("generate", "--ppm-weights", "1", "-1"),
    ("generate", "--bandwidth", "0"),
    ("generate", "--quick", "yes"),
    ("frobnicate",),
    (),
])
def test_bad_arguments_give_usage_and_nonzero_exit(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "usage: ppm-array" in result.stderr


def test_unwritable_output_directory_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["shape-match", "--steps", "2", "--out", str(blocker / "out")]) == 1
    assert "cannot create the output directory" in capsys.readouterr().err


def test_shape_match_writes_csv_and_png(tmp_path, capsys):
    code = main(["shape-match", "--shape", "two-circles", "--loss", "mmd", "--steps", "6", "--eval-every", "3",
                 "--n-points", "40", "--n-subsamples", "50", "--seeds", "2", "--metric", "published",
                 "--bandwidth", "median", "--ppm-weights", "1", "50", "--out", str(tmp_path)])
    assert code == 0
    with open(tmp_path / "shape_match.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["seed"], row["step"], row["arm"]) for row in rows] == [
        (seed, step, arm) for seed in ("0", "1") for arm in ("mmd", "mmd+ppm") for step in ("0", "3", "6")]
    assert all(float(row["published"]) > 0 for row in rows)
    for row in rows:  # the logged PPM-Reg is the weighted sum of its logged terms
        assert float(row["ppm_reg"]) == pytest.approx(float(row["ppm_q0"]) + 50 * float(row["ppm_q1"]), rel=1e-6)
        assert float(row["main_loss"]) > 0
    assert (tmp_path / "shape_match.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]
    out = capsys.readouterr().out
    assert "mmd+ppm" in out and "late-mean ratio (mmd+ppm / mmd)" in out and "over 2 seed(s)" in out
    assert (tmp_path / "shape_match_summary.txt").read_text() in out


def test_interrupted_write_leaves_no_file(tmp_path):
    final = tmp_path / "result.csv"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(final) as temporary:
            temporary.write_text("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_bench_reports_mean_and_spread_of_repeats(tmp_path, capsys, monkeypatch):
    from ppm_array.experiments import timing

    calls = []

    def fake_time_steps(method, n_points, n_subsamples, n_steps):  # no wall-clock in tests
        calls.append(((method, n_points, n_subsamples), n_steps))
        if n_steps == 1:  # a warm-up: as slow as a first call that compiles; must not reach the table
            return 1000.0, None
        timed = sum(1 for cell, steps in calls if cell == calls[-1][0] and steps == n_steps)
        return 0.1 * timed * n_steps / 10, None  # 1, then 2 s per 100 steps

    monkeypatch.setattr(timing, "_time_steps", fake_time_steps)
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "mean +- standard deviation over 2 repeats" in table
    assert (tmp_path / "bench.md").read_text() in table
    for method in ("PPM-Reg", "W-PPM-Reg", "PD-Reg", "Cramér alone (no regularizer)"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {method} |"))
        assert row.count("1.50 ± 0.71") == 2  # N = 128 and 256
    # Every timed call (10 steps) follows a one-step warm-up of the same cell, the first one included.
    assert calls[0][1] == 1
    timed = [i for i, (_, steps) in enumerate(calls) if steps == 10]
    assert len(timed) == len(calls) // 2 == 2 * 8  # 2 repeats of 8 cells
    assert all(calls[i - 1] == (calls[i][0], 1) for i in timed)
    assert (tmp_path / "bench.png").exists()


def test_semi_supervised_quick_writes_accuracies_of_both_protocols(tmp_path, capsys):
    assert main(["semi-supervised", "--quick", "--protocol", "both", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "semi_supervised.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert sorted((row["protocol"], row["seed"], row["arm"], row["run"]) for row in rows) == sorted(
        [("ours", seed, arm, "0") for seed in ("0", "1") for arm in ("labels", "cramer", "cramer+ppm")]
        + [("published", seed, arm, run) for seed in ("0", "1") for arm in ("cramer", "cramer+ppm") for run in "01"])
    for row in rows:  # ten classes: chance is 0.1; even the quick schedules learn from 200 labels
        assert 0.3 < float(row["test_accuracy"]) <= 1
        if row["protocol"] == "ours":
            assert 0.3 < float(row["validation_accuracy"]) <= 1
        else:  # no validation; the test set scored after epochs 1, 21 and 41
            assert row["validation_accuracy"] == "nan" and row["epoch"] in ("1", "21", "41")
    assert (tmp_path / "semi_supervised.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "2 seed(s) [0, 1]" in out and "protocol ours:" in out and "protocol published:" in out
    assert out.count("cramer+ppm - cramer:") == 2 and "95% CI [" in out
    assert (tmp_path / "semi_supervised_summary.txt").read_text() in out


@pytest.mark.parametrize("option, protocols", [((), ("ours",)), (("--protocol", "published"), ("published",)),
                                               (("--protocol", "both"), ("ours", "published"))])
def test_semi_supervised_protocol_option_chooses_what_each_seed_runs(option, protocols, tmp_path, capsys,
                                                                      monkeypatch):
    from ppm_array.experiments import semi_supervised
    from ppm_array.experiments.semi_supervised import SeedResult

    asked = []

    def fake_run_seed(config, seed, progress, protocols):  # what each protocol returns, without training
        asked.append(protocols)
        results = []
        for arm, accuracy in (("labels", 0.9), ("cramer", 0.8), ("cramer+ppm", 0.8 + seed / 100)):
            if "ours" in protocols:
                results.append(SeedResult(arm, seed, 0.5, accuracy, 10))
            if "published" in protocols and arm != "labels":
                results += [SeedResult(arm, seed, float("nan"), accuracy + run / 100, 21, "published", run)
                            for run in range(2)]
        return results

    monkeypatch.setattr(semi_supervised, "run_seed", fake_run_seed)
    assert main(["semi-supervised", *option, "--seeds", "3", "--out", str(tmp_path)]) == 0
    assert asked == [protocols] * 3
    out = capsys.readouterr().out
    assert ("protocol ours:" in out) == ("ours" in protocols)
    assert ("protocol published:" in out) == ("published" in protocols)
    # cramer+ppm - cramer is 0, 0.01, 0.02 over the seeds: mean 0.01, std 0.01, t(0.975, 2) = 4.3027
    assert out.count("cramer+ppm - cramer: 0.0100 +- 0.0100, 95% CI [-0.0148, +0.0348]") == len(protocols)
    if "published" in protocols:  # each seed's published value is the mean of its runs
        assert "cramer             0.8050 +- 0.0000" in out


def test_generate_quick_writes_scores_samples_and_summary(tmp_path, capsys):
    assert main(["generate", "--quick", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "generate.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["seed"], row["arm"]) for row in rows] == [("0", "none"), ("0", "ppm-reg"), ("1", "none"),
                                                           ("1", "ppm-reg"), ("", "floor")]
    floor = rows[-1]
    for row in rows[:-1]:  # a generator after a few steps is far from the digits: well above the floor
        assert float(row["cmmd"]) > 10 * float(floor["cmmd"]) > 0 and float(row["wd"]) > 2 * float(floor["wd"]) > 0
        # The biased estimator adds positive diagonal terms (unit-norm embeddings, kernel values below 1).
        assert float(row["cmmd_biased"]) > float(row["cmmd"])
        assert math.isfinite(float(row["late_cramer_loss"]))
        assert (float(row["late_ppm_reg"]) > 0) if row["arm"] == "ppm-reg" else row["late_ppm_reg"] == "nan"
    # The arms of a seed share networks, batches and noise, and differ only by PPM-Reg's gradient.
    for seed in ("0", "1"):
        none, ppm = (next(row for row in rows if (row["seed"], row["arm"]) == (seed, arm)) for arm in ("none", "ppm-reg"))
        assert float(none["cmmd"]) != float(ppm["cmmd"]) and float(none["cmmd"]) == pytest.approx(float(ppm["cmmd"]),
                                                                                                    rel=0.2)
    assert (tmp_path / "generate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]
    out = capsys.readouterr().out
    assert "2 seed(s) [0, 1]" in out and "CMMD" in out and "WD" in out and "95% CI" in out
    assert (tmp_path / "generate_summary.txt").read_text() in out


def test_generate_summary_gives_paired_differences_with_t_intervals(tmp_path, capsys, monkeypatch):
    from ppm_array.experiments import generative
    from ppm_array.experiments.digits_embedding import DigitsEmbedding
    from ppm_array.experiments.generative import GenerationResult, Reference, Scores

    shown = np.zeros((4, 64))

    def fake_prepare(config, progress):  # no training: a reference whose floor is known
        return Reference(np.zeros((1297, 64)), shown, DigitsEmbedding(None, None, 0.97), None, Scores(0.5, 0.6, 0.1))

    def fake_run_seed(config, reference, seed, progress):
        # none: CMMD 2, 3, 4; ppm-reg 0, 0.01, 0.02 lower: differences -0, -0.01, -0.02 (mean -0.01, std 0.01)
        return [GenerationResult("none", seed, Scores(2.0 + seed, 2.5, 1.0), shown, -0.5),
                GenerationResult("ppm-reg", seed, Scores(2.0 + seed - seed / 100, 2.5, 1.0), shown, -0.5, 0.001)]

    monkeypatch.setattr(generative, "prepare", fake_prepare)
    monkeypatch.setattr(generative, "run_seed", fake_run_seed)
    assert main(["generate", "--seeds", "3", "--out", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    # t(0.975, 2) = 4.3027: half-width 4.3027 * 0.01 / sqrt(3) = 0.0248
    assert "CMMD 3.0000 +- 1.0000 2.9900 +- 0.9900 -0.0100 +- 0.0100 [-0.0348, +0.0148]" in out
    assert "WD 1.0000 +- 0.0000 1.0000 +- 0.0000 0.0000 +- 0.0000 [+0.0000, +0.0000]" in out
    assert "floor (the 1297 training digits against the 4 held-out): CMMD 0.5000, WD 0.1000" in out
    assert "held-out accuracy 0.9700" in out
    assert "Cramér loss -0.5000 +- 0.0000, PPM-Reg 0.001000 +- 0.000000 (PPM-Reg / |Cramér loss| 0.002000 +- 0.000000)" in out


@pytest.mark.parametrize("command, module, distribution", [
    ("shape-match", "tqdm", "tqdm"), ("shape-match", "gph", "giotto-ph"), ("shape-match", "gudhi", "gudhi"),
    ("shape-match", "ot", "pot"), ("shape-match", "matplotlib", "matplotlib"), ("bench", "tqdm", "tqdm"), ("bench", "gph", "giotto-ph"),
    ("bench", "ot", "pot"), ("bench", "matplotlib", "matplotlib"), ("semi-supervised", "torch", "torch"),
    ("semi-supervised", "sklearn", "scikit-learn"), ("semi-supervised", "tqdm", "tqdm"),
    ("generate", "torch", "torch"), ("generate", "sklearn", "scikit-learn"), ("generate", "ot", "pot"),
    ("generate", "tqdm", "tqdm"), ("generate", "matplotlib", "matplotlib"),
])
def test_a_missing_extra_is_one_line_naming_the_package_and_its_install(command, module, distribution, tmp_path,
                                                                        capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    assert main([command, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"ppm-array {command}: error: needs {distribution} " in err
    assert "pip install 'ppm-array[" in err and f"pip install {distribution})" in err
    assert os.listdir(tmp_path) == []  # checked before anything runs


def test_a_module_missing_deeper_down_is_named_and_a_defect_is_not_hidden(capsys, monkeypatch):
    from ppm_array import cli

    def needs(name):
        def command(args):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return command

    monkeypatch.setitem(cli._COMMANDS, "bench", needs("scipy.sparse"))
    assert main(["bench"]) == 2
    assert capsys.readouterr().err == "ppm-array bench: error: needs scipy (module 'scipy' is not installed): " \
                                      "pip install scipy\n"
    monkeypatch.setitem(cli._COMMANDS, "bench", needs("ppm_array.experiments.gone"))
    with pytest.raises(ModuleNotFoundError, match="ppm_array.experiments.gone"):
        main(["bench"])


def test_a_missing_extra_gives_no_traceback_from_the_console(tmp_path):
    script = ("import sys; sys.modules['gudhi'] = None; from ppm_array.cli import main; "
              f"sys.exit(main(['shape-match', '--steps', '1', '--out', {str(tmp_path)!r}]))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == ("ppm-array shape-match: error: needs gudhi (module 'gudhi' is not installed): "
                             "pip install 'ppm-array[cli]' (or pip install gudhi)\n")
