"""train_losses.log (means per epoch) and train_steps.log (means per window of steps) against
the per-step values of the same seeded run, logged with windows of one step."""
import numpy as np

from training_runs import (common_options, one_thread, run_main,  # noqa: F401
                           small_data_dir)
from utils.viz_helpers import read_loss_log

STEPS = 13  # 5 steps per epoch: epochs 0 and 1 complete, epoch 2 stopped after 3 steps


def logged_run(capsys, tmp_path, data_dir, name, window):
    common = common_options(data_dir, tmp_path)
    common[common.index("--log-every-steps") + 1] = window
    assert run_main(capsys, name, *common, "--max-steps", STEPS)[0] is None
    return tmp_path / name


def test_window_and_epoch_means_are_means_of_the_steps(small_data_dir, tmp_path, capsys):
    per_step = logged_run(capsys, tmp_path, small_data_dir, "per_step", 1)
    windows = logged_run(capsys, tmp_path, small_data_dir, "windows", 3)
    steps, step_values = read_loss_log(per_step / "train_steps.log")
    assert steps.tolist() == list(range(1, STEPS + 1))

    ends, window_values = read_loss_log(windows / "train_steps.log")
    assert ends.tolist() == [3, 6, 9, 12, 13]  # the last window is the run's last step
    starts = [0, 3, 6, 9, 12]
    epochs, epoch_values = read_loss_log(windows / "train_losses.log")
    assert epochs.tolist() == [0, 1, 2]
    assert window_values.keys() == step_values.keys() == epoch_values.keys()
    for term, values in step_values.items():
        np.testing.assert_allclose(window_values[term],
                                   [values[a:b].mean() for a, b in zip(starts, ends)],
                                   rtol=1e-5, atol=1e-5, err_msg=term)
        np.testing.assert_allclose(epoch_values[term],
                                   [values[0:5].mean(), values[5:10].mean(),
                                    values[10:13].mean()], rtol=1e-5, atol=1e-5, err_msg=term)


def test_no_steps_log_when_switched_off(small_data_dir, tmp_path, capsys):
    run = logged_run(capsys, tmp_path, small_data_dir, "off", 0)
    assert (run / "train_losses.log").exists() and not (run / "train_steps.log").exists()
