"""disvae.objectives: the declarations every command line, preset, summary and plot reads;
a user's own objective added from a module outside the toolkit; reading them without torch."""
import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import main
import main_viz
from disvae.objectives import (ObjectiveError, registered, registered_objectives,
                               split_preset, term_panels)
from utils import config, summary
from utils.options import Options

REPO = Path(__file__).resolve().parents[1]
ORIGINAL_LOSSES = ["VAE", "betaH", "betaB", "factor", "btcvae"]

TOY_MODULE = '''
"""A user's objective: rec + KL + weight * mean |z| (an L1 pull of the codes to 0)."""
from disvae.models.losses import BaseLoss, _stack, reconstruction_loss
from disvae.objectives import Hyperparameter, Objective


class ToyLoss(BaseLoss):
    def __init__(self, latent_dim, weight=1.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.weight = weight

    def term_names(self, latent_dim):
        return super().term_names(latent_dim) + ["l1_loss"]

    def terms(self, model, data, step):
        recon, (mean, logvar), z = model(data)
        rec = reconstruction_loss(data, recon, self.rec_dist)
        kl, kl_per_dim = self._kl_values(mean, logvar)
        l1 = z.abs().sum(dim=1).mean()
        loss = rec + kl + self.weight * l1
        return loss, _stack(rec, kl, kl_per_dim, loss, l1)


OBJECTIVES = [Objective(
    name="toy_l1", title="toy L1 VAE", paper="none", formula="rec + KL + w |z|",
    implementation="toy_objective:ToyLoss",
    hyperparameters=(Hyperparameter("toy_l1_weight", float, 0.5, "weight of the L1 term",
                                    symbol="w_l1", keyword="weight"),),
    terms={"l1_loss": "sparsity"})]
'''


@pytest.fixture
def toy_objective(tmp_path, monkeypatch):
    """The toy objective's module in a temporary folder, registered as a user would: its
    path in $DISVAE_OBJECTIVES."""
    path = tmp_path / "elsewhere" / "toy_objective.py"
    path.parent.mkdir()
    path.write_text(TOY_MODULE)
    monkeypatch.setenv("DISVAE_OBJECTIVES", str(path))
    monkeypatch.delitem(sys.modules, "toy_objective", raising=False)
    return path


def repository_state():
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout


def test_a_users_objective_shows_in_help_trains_summarises_and_plots(
        toy_objective, dsprites_data_dir, tmp_path, capsys):
    before = repository_state()
    with pytest.raises(SystemExit):
        main.main(["-h"])
    help_text = capsys.readouterr().out
    assert "toy_l1" in help_text and "--toy-l1-weight" in help_text
    results = tmp_path / "results"
    # its name holds "_": the preset toy_l1_dsprites splits at the registered name
    main.main(["toy", "-x", "toy_l1_dsprites", "--toy-l1-weight", "0.25", "--max-steps", "4",
               "-b", "16", "--no-test", "--no-progress-bar", "--log-every-steps", "2",
               "--data-dir", str(dsprites_data_dir), "--results-dir", str(results)])
    log = (results / "toy" / "train_losses.log").read_text()
    assert ",l1_loss," in log
    summary.main(["--results-dir", str(results)])
    with open(results / "summary.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["loss"], row["dataset"], float(row["w_l1"])) == ("toy_l1", "dsprites", 0.25)
    assert float(row["train_l1_loss"]) >= 0
    main_viz.main(["toy", "loss-curves", "--results-dir", str(results),
                   "--data-dir", str(dsprites_data_dir)])
    assert (results / "toy" / "loss_curves.png").stat().st_size > 0
    assert term_panels()["l1_loss"] == "sparsity"
    assert repository_state() == before


def test_resuming_a_run_of_an_unregistered_objective_names_the_fix(tmp_path, capsys):
    run = tmp_path / "toy"
    run.mkdir()
    (run / "specs.json").write_text('{"loss": "toy_l1", "name": "toy"}')
    with pytest.raises(SystemExit) as stop:
        main.main(["toy", "--resume", "--results-dir", str(tmp_path)])
    assert "'toy_l1', which is not registered" in stop.value.code
    assert "DISVAE_OBJECTIVES" in stop.value.code


def test_a_missing_user_module_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISVAE_OBJECTIVES", str(tmp_path / "nope.py"))
    with pytest.raises(SystemExit) as stop:
        main.main(["r", "--results-dir", str(tmp_path)])
    assert "no file" in str(stop.value.code) and "DISVAE_OBJECTIVES" in str(stop.value.code)


def test_a_module_without_declarations_or_with_a_taken_name_is_refused(tmp_path):
    empty = tmp_path / "empty_objectives.py"
    empty.write_text("X = 1\n")
    with pytest.raises(ObjectiveError, match="declares no OBJECTIVES"):
        registered_objectives(str(empty))
    clash = tmp_path / "clash_objectives.py"
    clash.write_text("from disvae.objectives.vae import OBJECTIVES\n")
    with pytest.raises(ObjectiveError, match="two objectives are named 'VAE'"):
        registered_objectives(str(clash))


def test_builtin_objectives_keep_the_original_order_then_dip_vae():
    assert list(registered()) == [*ORIGINAL_LOSSES, "dipI", "dipII"]


def test_presets_split_at_a_registered_loss_name():
    datasets = ["dsprites", "celeba", "celeba_squash"]
    assert split_preset("betaH_celeba_squash", datasets) == ("betaH", "celeba_squash")
    assert split_preset("dipII_dsprites", datasets) == ("dipII", "dsprites")
    assert split_preset("my_loss_dsprites", datasets, ["my", "my_loss"]) == ("my_loss", "dsprites")
    assert split_preset("betaX_dsprites", datasets) is None
    assert config.preset_sections("dipI_dsprites", registered(), datasets) == [
        "Common_dsprites", "Common_dipI", "dipI_dsprites"]


def test_every_hyperparameter_is_a_command_line_option_with_its_declared_default():
    options = vars(main.parse_arguments(["r"]))
    ini = config.get_section(config.read_config(), "Custom")
    for objective in registered().values():
        for hyper in objective.hyperparameters:
            assert options[hyper.name] == ini.get(hyper.name, hyper.default)


def test_an_unknown_key_in_custom_is_a_config_error(tmp_path, monkeypatch):
    presets = tmp_path / "presets.ini"
    presets.write_text((REPO / "hyperparam.ini").read_text().replace(
        "betaH_B = 4", "betaH_b = 4", 1))
    monkeypatch.setenv("DISVAE_CONFIG", str(presets))
    with pytest.raises(config.ConfigError, match="'betaH_b', which is no option"):
        main.parse_arguments(["r"])


def test_bin_scripts_accept_every_registered_objective():
    result = subprocess.run([str(REPO / "bin" / "train_all.sh"), "-n", "-l", "dipI,dipII",
                             "-d", "dsprites", "--no-best"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHON": "python-under-test",
                                 "HOME": str(REPO)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [line.split()[2] for line in result.stdout.splitlines()] == [
        "dipI_dsprites", "dipII_dsprites"]


def test_options_round_trip_through_specs_and_give_the_objective_its_own_group():
    flat = vars(main.parse_arguments(["r", "-x", "btcvae_dsprites"]))
    flat.update(img_size=[1, 64, 64], n_train=2048)
    options = Options.from_flat(flat)
    assert options.to_flat() == flat
    assert options.objective.btcvae_B == 6.4 and options.model.latent_dim == 10
    assert options.loss == "btcvae" and options.extra["n_train"] == 2048
    assert "betaH_B" in options.extra  # another objective's option, kept for specs.json


DECLARATION_MODULES = ["disvae", "disvae.objectives", "utils.options", "utils.config",
                       *(f"disvae.objectives.{name}" for name in
                         ("vae", "beta_h", "beta_b", "factor", "btcvae", "dip"))]


@pytest.mark.parametrize("module", DECLARATION_MODULES)
def test_reading_declarations_options_and_presets_does_not_import_torch(module):
    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60).returncode == 0


def test_the_summary_reads_run_folders_without_torch():
    code = "import sys, utils.summary; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=120).returncode == 0
