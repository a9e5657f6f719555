"""What the terminal shows: the progress bar counts the steps that will run, window lines
without a bar, the run's own options when evaluating, every score, help without contradicting
defaults, and a Ctrl-C message on a line of its own."""
import re
import signal

import pytest

import main
import main_viz
from disvae.metrics.suite import score_line
from disvae.utils.progress import format_terms, total_steps
from disvae.utils.term_labels import short_term_label, term_label, watched_terms
from test_resume import send_signal_at_step
from training_runs import common_options, one_thread, run_main, small_data_dir  # noqa: F401

TIME = r"\d\d:\d\d:\d\d"


def test_total_steps_stop_at_max_steps_or_the_epochs():
    assert total_steps(epochs=30, n_batches=11520, max_steps=200) == 200
    assert total_steps(epochs=2, n_batches=5, max_steps=None) == 10
    assert total_steps(epochs=2, n_batches=5, max_steps=99) == 10


def test_term_labels_are_readable_and_the_watched_terms_ordered():
    assert term_label("kl_loss_3") == "KL of latent 3"
    assert term_label("tc_loss") == "total correlation"
    assert term_label("made_up") == "made_up"
    assert short_term_label("kl_loss_12") == "KL12"
    assert watched_terms(["kl_loss_0", "tc_loss", "recon_loss", "loss", "kl_loss"]) == [
        "loss", "recon_loss", "kl_loss", "tc_loss"]
    assert format_terms({"recon_loss": 12.345, "tc_loss": -0.5}) == "rec 12.35 | TC -0.5"


def test_the_bar_counts_the_steps_that_will_run(small_data_dir, tmp_path, capsys):
    """5 steps per epoch and --max-steps 3: the bar's total is 3, not the epoch's 5."""
    common = [arg for arg in common_options(small_data_dir, tmp_path) if
              arg != "--no-progress-bar"]
    outcome, err = run_main(capsys, "bar", *common, "--max-steps", 3, "-e", 4)
    assert outcome is None
    assert re.search(r"Epoch 1/4: +\d+%.*\| [0-3]/3 \[", err), err
    assert not re.search(r"\d/5 \[", err)


@pytest.mark.parametrize("loss, terms", [
    ("btcvae", ["loss", "rec", "KL", "MI", "TC", "dwKL"]),
    ("factor", ["loss", "rec", "KL", "TC", "D"]),
    ("betaB", ["loss", "rec", "KL", "C"])])
def test_without_a_bar_every_window_logs_a_line(loss, terms, small_data_dir, tmp_path, capsys):
    batch_size = 4 if loss == "factor" else 8
    common = common_options(small_data_dir, tmp_path, loss, batch_size)
    outcome, err = run_main(capsys, "lines", *common, "--max-steps", 7)
    assert outcome is None
    lines = [line for line in err.splitlines() if " step " in line and "img/s" in line]
    assert [re.search(r"step (\d+)/7 ", line).group(1) for line in lines] == ["3", "6", "7"]
    for line in lines:
        shown = re.search(r"img/s \| (.*) \| ETA \d\d:\d\d$", line).group(1)
        assert [part.split()[0] for part in shown.split(" | ")] == terms
        assert float(re.search(r"\| ([\d.]+) img/s", line).group(1)) > 0


def test_eval_only_logs_the_runs_own_options(small_data_dir, tmp_path, capsys):
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "own", *common, "--max-steps", 2)[0] is None
    outcome, err = run_main(capsys, "own", "--is-eval-only", "--no-test",
                            "--results-dir", tmp_path)
    assert outcome is None
    options = re.search(r"Options of the run \(.*specs\.json\): (\{.*\})", err).group(1)
    assert '"dataset": "dsprites"' in options and '"loss": "btcvae"' in options
    assert '"loss": "betaB"' not in err and '"dataset": "mnist"' not in err


def test_the_metrics_line_names_every_score():
    metrics = {"n_images": 100, "MIG": 0.25, "AAM": 0.5, "dci": {
        "disentanglement": 0.125, "importance_matrix": [[1.0]], "recipe": {"seed": 1.0}},
        "sap": {"sap": 0.0625}, "images_scored": "all"}
    assert score_line(metrics) == ("MIG 0.2500, AAM 0.5000, DCI_disentanglement 0.1250, "
                                   "SAP 0.0625")


@pytest.mark.parametrize("parser", [main.build_parser(main.config.get_section(
    main.config.read_config(main.config.CONFIG_FILE), "Custom")), main_viz.build_parser()],
    ids=["main", "main_viz"])
def test_help_states_each_default_once(parser):
    text = " ".join(parser.format_help().split())
    assert "(default: all) (default: None)" not in text
    for action in parser._actions:
        help_text = parser.formatter_class("x")._get_help_string(action) or ""
        assert help_text.count("(default:") <= 1, action.dest


def test_ctrl_c_message_starts_on_a_new_line(small_data_dir, tmp_path, capsys, monkeypatch):
    common = [arg for arg in common_options(small_data_dir, tmp_path) if
              arg != "--no-progress-bar"]
    send_signal_at_step(monkeypatch, signal.SIGINT, at_step=2)
    code, err = run_main(capsys, "stopped", *common, "--max-steps", 4)
    assert code == 128 + signal.SIGINT
    warning = next(line for line in err.split("\n") if "SIGINT: stopping" in line)
    assert re.match(TIME + " WARNING", warning.split("\r")[-1]), repr(warning)
    last = err.rstrip("\n").split("\n")[-1]
    assert last.split("\r")[-1].startswith("training stopped by SIGINT"), repr(last)
