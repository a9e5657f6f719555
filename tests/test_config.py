"""Preset resolution: commons, specific sections, interpolation, and typed options winning."""
import pytest

import main
from utils import config


def resolve(*argv):
    return vars(main.parse_arguments(["run", *argv]))


def test_defaults_come_from_the_custom_section():
    options = resolve()
    assert (options["loss"], options["dataset"], options["epochs"]) == ("betaB", "mnist", 100)
    assert options["model_type"] == "Burgess" and options["reg_anneal"] == 10000


def test_loss_dataset_preset_applies_commons_then_specific_section():
    options = resolve("-x", "betaB_dsprites")
    assert options["dataset"] == "dsprites" and options["loss"] == "betaB"
    assert options["epochs"] == 30 and options["checkpoint_every"] == 10
    assert options["lr"] == 1e-3 and options["reg_anneal"] == 100000
    assert options["betaB_finC"] == 25


def test_btcvae_beta_is_interpolated_from_the_factor_section():
    assert resolve("-x", "btcvae_dsprites")["btcvae_B"] == 6.4
    assert resolve("-x", "btcvae_chairs")["btcvae_B"] == 3.2


def test_typed_option_wins_over_the_preset():
    options = resolve("-x", "betaB_dsprites", "-e", "5", "--lr", "0.01")
    assert options["epochs"] == 5 and options["lr"] == 0.01
    assert options["reg_anneal"] == 100000


def test_typed_option_equal_to_default_still_wins():
    assert resolve("-x", "betaB_dsprites", "-e", "100")["epochs"] == 100


def test_untouched_options_survive_a_preset():
    assert resolve("-x", "btcvae_dsprites", "--btcvae-A", "-5")["btcvae_A"] == -5


def test_missing_specific_section_is_fine_for_valid_combinations():
    options = resolve("-x", "VAE_mnist")
    assert options["loss"] == "VAE" and options["dataset"] == "mnist" and options["epochs"] == 400


def test_standalone_presets_skip_the_commons():
    best = resolve("-x", "best_dsprites")
    assert (best["loss"], best["dataset"], best["btcvae_A"], best["btcvae_B"]) == \
        ("btcvae", "dsprites", -5, 10)
    assert best["lr"] == 5e-4 and best["epochs"] == 30
    debug = resolve("-x", "debug")
    assert debug["epochs"] == 1 and debug["no_test"] and debug["reg_anneal"] == 0
    assert resolve("-x", "best_celeba")["rec_dist"] == "laplace"


def test_log_level_is_case_insensitive():
    assert resolve("-L", "DEBUG")["log_level"] == "debug"


def test_unknown_preset_is_a_config_error():
    with pytest.raises(config.ConfigError, match="unknown preset 'betaX_dsprites'"):
        resolve("-x", "betaX_dsprites")


def test_syntax_error_in_the_preset_file_is_one_line(tmp_path):
    broken = tmp_path / "hyperparam.ini"
    broken.write_text("[Custom]\nepochs = 3\n[Custom\nlr = 1\n")
    with pytest.raises(config.ConfigError) as error:
        config.read_config(str(broken))
    assert "\n" not in str(error.value) and "hyperparam.ini" in str(error.value)


def test_specs_round_trip(tmp_path):
    config.save_specs({"loss": "VAE", "img_size": [1, 64, 64]}, str(tmp_path))
    assert config.load_specs(str(tmp_path)) == {"loss": "VAE", "img_size": [1, 64, 64]}
    with pytest.raises(config.ConfigError, match="no specs.json"):
        config.load_specs(str(tmp_path / "missing"))
