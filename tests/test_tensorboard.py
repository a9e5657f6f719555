"""--tensorboard: the event files, read back with TensorBoard's own reader, hold the numbers
of train_steps.log, images/s, the learning rate and the training GIF's frames, and a resumed
run continues the same curves without a duplicated step. --gif-every-steps: training.gif
frames within long epochs."""
import importlib.util

import imageio.v3 as iio
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import (IMAGES, SCALARS,
                                                                    EventAccumulator)

from disvae.utils.tensorboard_log import (IMAGE_TAG, IMAGES_PER_S_TAG, LEARNING_RATE_TAG,
                                          scalar_tag)
from training_runs import common_options, one_thread, run_main, small_data_dir  # noqa: F401
from utils.viz_helpers import read_loss_log


def read_events(run_dir):
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={SCALARS: 0,
                                                                            IMAGES: 0})
    events.Reload()
    return events


def assert_events_match_steps_log(run_dir):
    events = read_events(run_dir)
    steps, terms = read_loss_log(run_dir / "train_steps.log")
    for term, values in terms.items():
        logged = events.Scalars(scalar_tag(term))
        assert [event.step for event in logged] == steps.tolist(), term
        np.testing.assert_allclose([event.value for event in logged], values, rtol=1e-6,
                                   err_msg=term)
    for tag in (IMAGES_PER_S_TAG, LEARNING_RATE_TAG):
        assert [event.step for event in events.Scalars(tag)] == steps.tolist()
    assert all(event.value > 0 for event in events.Scalars(IMAGES_PER_S_TAG))
    assert {event.value for event in events.Scalars(LEARNING_RATE_TAG)} == {
        np.float32(5e-4)}
    return events


def test_scalars_equal_the_steps_log_and_resuming_continues_them(small_data_dir, tmp_path,
                                                                   capsys):
    """Windows of 3 steps, 5 steps per epoch: the stopped run logs windows 3, 6 and the
    provisional 7; the resumed run rewrites 7 as part of window 9, then 12 and 13."""
    common = common_options(small_data_dir, tmp_path) + ["--tensorboard", "--lr", "5e-4"]
    assert run_main(capsys, "straight", *common, "--max-steps", 13)[0] is None
    assert run_main(capsys, "resumed", *common, "--max-steps", 7)[0] is None
    assert run_main(capsys, "resumed", "--resume", "--max-steps", 13,
                    "--results-dir", tmp_path)[0] is None
    for name in ("straight", "resumed"):
        events = assert_events_match_steps_log(tmp_path / name)
        assert [event.step for event in events.Scalars(scalar_tag("loss"))] == [3, 6, 9, 12,
                                                                                 13]
        # one traversal per epoch end: steps 5 and 10, and the stop at 13
        assert [event.step for event in events.Images(IMAGE_TAG)] == [5, 10, 13]
        assert events.Images(IMAGE_TAG)[0].height == 10 * 66 + 2


def test_no_event_files_without_the_option(small_data_dir, tmp_path, capsys):
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "plain", *common, "--max-steps", 2)[0] is None
    assert not (tmp_path / "plain" / "tensorboard").exists()


def test_training_gif_takes_frames_within_long_epochs(small_data_dir, tmp_path, capsys):
    """5 steps per epoch, --gif-every-steps 2: frames at steps 2 and 4, the epoch's end (5),
    6 and the stop (7); an epoch no longer than the interval keeps one frame per epoch."""
    common = common_options(small_data_dir, tmp_path) + ["--max-steps", 7]
    assert run_main(capsys, "often", *common, "--gif-every-steps", 2)[0] is None
    frames = sorted(path.name
                    for path in (tmp_path / "often" / "training_gif_frames").glob("*.png"))
    assert frames == [f"step-{step:09d}.png" for step in (2, 4, 5, 6, 7)]
    assert len(iio.imread(tmp_path / "often" / "training.gif", index=None)) == 5
    assert run_main(capsys, "epochs", *common, "--gif-every-steps", 5)[0] is None
    frames = sorted(path.name
                    for path in (tmp_path / "epochs" / "training_gif_frames").glob("*.png"))
    assert frames == ["epoch-00000.png", "epoch-00001.png"]


def test_missing_tensorboard_package_is_a_one_line_error(small_data_dir, tmp_path, capsys,
                                                          monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "tensorboard" else
                        find_spec(name, *rest))
    common = common_options(small_data_dir, tmp_path) + ["--tensorboard"]
    message, _ = run_main(capsys, "none", *common, "--max-steps", 2)
    assert message == ("error: --tensorboard needs the tensorboard package: pip install "
                       "tensorboard, or drop --tensorboard")
    assert not (tmp_path / "none").exists()
