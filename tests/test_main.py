"""main.py end to end on a small procedural-dSprites subset: training, outputs, bad input."""
import json
import math
import os
import zipfile

import pytest
import torch

import main
from disvae.models.vae import init_specific_model
from disvae.utils.modelIO import CheckpointError, load_model, save_model
from utils.datasets import DSPRITES_PROCEDURAL_FILE

LOSS_NAMES = ("VAE", "betaH", "betaB", "factor", "btcvae")


def run_main(capsys, *argv):
    """Run main.main; returns (exit message or None, captured stderr)."""
    try:
        main.main(list(argv))
        message = None
    except SystemExit as stop:
        message = str(stop.code)
    return message, capsys.readouterr().err


def read_train_log(path):
    lines = open(path).read().splitlines()
    assert lines[0] == "Epoch,Loss,Value"
    rows = [line.split(",") for line in lines[1:]]
    return [(int(epoch), key, float(value)) for epoch, key, value in rows]


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_every_loss_trains_with_finite_logged_losses(loss, dsprites_data_dir, tmp_path, capsys):
    message, _ = run_main(capsys, "r", "-d", "dsprites", "-l", loss, "--max-steps", "12",
                          "--no-test", "--no-progress-bar", "-b", "16",
                          "--data-dir", str(dsprites_data_dir), "--results-dir", str(tmp_path))
    assert message is None
    run = tmp_path / "r"
    rows = read_train_log(run / "train_losses.log")
    assert rows and all(math.isfinite(value) for _, _, value in rows)
    keys = [key for _, key, _ in rows]
    assert "recon_loss" in keys and "loss" in keys and "kl_loss_9" in keys
    specs = json.loads((run / "specs.json").read_text())
    assert specs["loss"] == loss and specs["data_source"] == "procedural"
    assert specs["steps"] == 12 and specs["img_size"] == [1, 64, 64]
    assert specs["batch_size"] == (32 if loss == "factor" else 16)
    assert (run / "model.pt").exists() and (run / "model-0.pt").exists()


def test_btcvae_mutual_information_stays_below_log_n(dsprites_data_dir, tmp_path, capsys):
    message, _ = run_main(capsys, "r", "-x", "btcvae_dsprites", "--max-steps", "40", "-b", "64",
                          "--no-test", "--no-progress-bar", "--data-dir", str(dsprites_data_dir),
                          "--results-dir", str(tmp_path))
    assert message is None
    rows = read_train_log(tmp_path / "r" / "train_losses.log")
    n_data = json.loads((tmp_path / "r" / "specs.json").read_text())["n_train"]
    mi = [value for _, key, value in rows if key == "mi_loss"]
    assert mi and max(mi) <= math.log(n_data)


def test_training_loss_falls_over_epochs(dsprites_data_dir, tmp_path, capsys):
    message, _ = run_main(capsys, "r", "-d", "dsprites", "-l", "betaH", "-e", "3", "-b", "64",
                          "--no-test", "--no-progress-bar", "--data-dir", str(dsprites_data_dir),
                          "--results-dir", str(tmp_path))
    assert message is None
    losses = [value for _, key, value in read_train_log(tmp_path / "r" / "train_losses.log")
              if key == "loss"]
    assert len(losses) == 3 and losses[2] < 0.8 * losses[0]


def test_eval_only_rebuilds_model_and_loss_from_specs(dsprites_data_dir, tmp_path, capsys):
    common = ["--data-dir", str(dsprites_data_dir), "--results-dir", str(tmp_path),
              "--no-progress-bar", "--eval-batchsize", "500"]
    assert run_main(capsys, "r", "-d", "dsprites", "-l", "btcvae", "--max-steps", "5",
                    "--no-test", *common)[0] is None
    assert run_main(capsys, "r", "--is-eval-only", *common)[0] is None
    test_losses = json.loads((tmp_path / "r" / "test_losses.log").read_text())
    assert {"recon_loss", "mi_loss", "tc_loss", "dw_kl_loss", "kl_loss"} <= set(test_losses)
    assert all(math.isfinite(v) for v in test_losses.values())
    # a mean over all 2,048 images, not one batch divided by the number of batches
    assert 100 < test_losses["recon_loss"] < 4000


def test_checkpoint_round_trip(tmp_path):
    model = init_specific_model("Burgess", (3, 32, 32), 6)
    save_model(model, str(tmp_path))
    loaded = load_model(str(tmp_path), (3, 32, 32), 6)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(str(tmp_path), (3, 32, 32), 7)
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model(str(tmp_path), (3, 32, 32), 6)


def test_rerunning_a_name_archives_the_earlier_run(dsprites_data_dir, tmp_path, capsys):
    common = ["r", "-d", "dsprites", "--max-steps", "2", "--no-test", "--no-progress-bar",
              "--data-dir", str(dsprites_data_dir), "--results-dir", str(tmp_path)]
    for _ in range(3):
        assert run_main(capsys, *common)[0] is None
    archives = sorted(p for p in os.listdir(tmp_path) if p.endswith(".zip"))
    assert len(archives) == 2
    for archive in archives:
        with zipfile.ZipFile(tmp_path / archive) as handle:
            assert "r/model.pt" in handle.namelist()


@pytest.mark.parametrize("argv,expected", [
    (["-l", "nope"], "invalid choice: 'nope'"),
    (["-d", "nope"], "invalid choice: 'nope'"),
    (["-x", "betaX_dsprites"], "unknown preset 'betaX_dsprites'"),
    (["-e", "-3"], "must be a positive integer"),
    (["-b", "zero"], "invalid positive_int value"),
    (["-z", "0"], "must be a positive integer"),
])
def test_bad_options_give_one_line_errors(argv, expected, tmp_path, capsys):
    message, _ = run_main(capsys, "r", "--results-dir", str(tmp_path), *argv)
    assert expected in message and "\n" not in message


def corrupt(path, how):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncated" else b"garbage" * 100)


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_damaged_dataset_file_gives_one_line_error(how, dsprites_data_dir, tmp_path, capsys):
    data_dir = tmp_path / "data"
    (data_dir / "dsprites").mkdir(parents=True)
    target = data_dir / "dsprites" / DSPRITES_PROCEDURAL_FILE
    target.write_bytes((dsprites_data_dir / "dsprites" / DSPRITES_PROCEDURAL_FILE).read_bytes())
    corrupt(target, how)
    message, _ = run_main(capsys, "r", "-d", "dsprites", "--data-dir", str(data_dir),
                          "--results-dir", str(tmp_path / "results"))
    assert "corrupt or truncated" in message and "\n" not in message


def test_unwritable_results_folder_gives_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    message, _ = run_main(capsys, "r", "-d", "dsprites", "--results-dir", str(blocker / "res"))
    assert "cannot create" in message and "--results-dir" in message


def test_failed_run_keeps_the_earlier_run(dsprites_data_dir, tmp_path, capsys):
    common = ["--data-dir", str(dsprites_data_dir), "--results-dir", str(tmp_path)]
    assert run_main(capsys, "r", "-d", "dsprites", "--max-steps", "2", "--no-test",
                    "--no-progress-bar", *common)[0] is None
    before = (tmp_path / "r" / "model.pt").read_bytes()
    message, _ = run_main(capsys, "r", "-x", "betaX_dsprites", *common)
    assert message is not None
    assert (tmp_path / "r" / "model.pt").read_bytes() == before
