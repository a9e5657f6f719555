"""Options of main.py that only a run can check: each is passed on the command line and its
effect is read from what the run hands to the trainer or writes (metrics.log, specs.json)."""
import json
import shutil

import pytest
import torch

import main
from utils import runner
from training_runs import one_thread  # noqa: F401 (autouse: one PyTorch thread per test)


@pytest.fixture
def trained_with(dsprites_data_dir, tmp_path, monkeypatch):
    """A function training main.py for two steps with extra options; returns (the model and
    the device handed to the Trainer, the run folder)."""
    handed = {}
    real_trainer = runner.Trainer

    def spy(model, optimizer, loss_f, save_dir, device="cpu", **kwargs):
        handed.update(model=model, device=device)
        return real_trainer(model, optimizer, loss_f, save_dir, device=device, **kwargs)

    monkeypatch.setattr(runner, "Trainer", spy)

    def run(*argv):
        main.main(["r", "-d", "dsprites", "-l", "btcvae", "--max-steps", "2", "-b", "8",
                   "--no-test", "--no-progress-bar", *argv, "--data-dir",
                   str(dsprites_data_dir), "--results-dir", str(tmp_path)])
        lines = (tmp_path / "r" / "train_losses.log").read_text().splitlines()[1:]
        assert all(torch.isfinite(torch.tensor(float(line.split(",")[2]))) for line in lines)
        return handed["model"], handed["device"], tmp_path / "r"
    return run


def test_metrics_images_and_dci_trees_reach_the_metrics(tiny_trained_run, dsprites_data_dir,
                                                        tmp_path, small_recipes):
    results = tmp_path / "results"
    shutil.copytree(tiny_trained_run, results / "tiny")
    main.main(["tiny", "--is-eval-only", "--is-metrics", "--no-test", "--no-progress-bar",
               "--metrics-images", "500", "--dci-trees", "3", "--data-dir",
               str(dsprites_data_dir), "--results-dir", str(results)])
    metrics = json.loads((results / "tiny" / "metrics.log").read_text())
    assert metrics["n_images"] == 500 and metrics["images_scored"] == "random subset of 500"
    assert metrics["dci"]["recipe"]["n_estimators"] == 3  # not the recipe's (here 5)
    assert metrics["mig_sampled"]["recipe"]["n_images"] == 500


def test_amp_trains_the_model_under_bfloat16_autocast(trained_with):
    model, _, run = trained_with("--amp")
    assert model.autocast_dtype == torch.bfloat16
    assert json.loads((run / "specs.json").read_text())["amp"] is True
    plain, _, _ = trained_with()
    assert getattr(plain, "autocast_dtype", None) != torch.bfloat16


def test_compile_trains_a_compiled_model(trained_with, monkeypatch):
    """--compile hands a torch.compile'd model to the trainer. The inductor backend takes
    minutes to build kernels on a CPU, so the run here compiles with the eager backend (same
    graph capture by dynamo, no code generation)."""
    real_compile = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile",
                        lambda self, **kwargs: real_compile(self, backend="eager"))
    model, _, run = trained_with("--compile")
    assert model._compiled_call_impl is not None
    assert json.loads((run / "specs.json").read_text())["compile"] is True
    torch._dynamo.reset()


def test_btcvae_estimator_is_recorded_and_used_by_the_evaluation(trained_with):
    _, _, run = trained_with("--btcvae-estimator", "mws")
    specs = json.loads((run / "specs.json").read_text())
    assert specs["btcvae_estimator"] == "mws"
    assert runner.build_loss(specs, specs["n_train"], "cpu").is_mss is False


def test_no_cuda_reaches_the_device_choice(trained_with, monkeypatch):
    """--no-cuda is what main.py asks get_device for; the run trains on the CPU."""
    asked = []
    real_get_device = runner.get_device
    monkeypatch.setattr(runner, "get_device",
                        lambda no_cuda: asked.append(no_cuda) or real_get_device(no_cuda))
    _, device, run = trained_with("--no-cuda")
    assert asked == [True] and torch.device(device).type == "cpu"
    assert json.loads((run / "specs.json").read_text())["no_cuda"] is True
    trained_with()
    assert asked == [True, False]
