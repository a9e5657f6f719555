"""utils/gif_append.py: a frame appended to a GIF decodes as in a GIF written whole, with its
delay; files it cannot append to are refused (the caller then writes the whole GIF)."""
import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from utils.gif_append import NotAppendable, append_gif_frame
from utils.visualize import save_gif


def colour_frames(count, height=24, width=40, seed=0):
    """Frames of more than 256 colours (each quantised to its own palette) and one flat one."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]
    frames.append(np.full((height, width, 3), 200, dtype=np.uint8))
    return frames


def gif_blocks(data):
    """The block labels of a GIF89a file walked by its structure (header, screen, colour
    table, then extensions and images up to the trailer), checking each block's framing:
    a graphic control extension of 4 bytes, images inside the screen, sub-block chains
    ending with 0, the trailer as the last byte."""
    assert data[:6] == b"GIF89a"
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    position = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    labels = []

    def sub_blocks(position):
        while data[position]:
            position += data[position] + 1
        return position + 1

    while data[position] != 0x3B:
        if data[position] == 0x21:
            if data[position + 1] == 0xF9:
                assert data[position + 2] == 4 and data[position + 7] == 0
            labels.append(f"extension {data[position + 1]:#x}")
            position = sub_blocks(position + 2)
        else:
            assert data[position] == 0x2C
            left, top, w, h = (int.from_bytes(data[position + i:position + i + 2], "little")
                               for i in (1, 3, 5, 7))
            assert left + w <= width and top + h <= height
            packed = data[position + 9]
            table = 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
            labels.append("image")
            position = sub_blocks(position + 10 + table + 1)
    assert position == len(data) - 1
    return labels


def test_appended_frames_decode_as_in_a_gif_written_whole(tmp_path):
    frame_ms = 1000 / 15  # 6.67 hundredths of a second: GIF keeps 6, as Pillow writes it
    frames = colour_frames(3)
    save_gif(frames[:1], tmp_path / "grown.gif", frame_ms=frame_ms)
    for frame in frames[1:]:
        append_gif_frame(tmp_path / "grown.gif", frame, frame_ms)
    save_gif(frames, tmp_path / "whole.gif", frame_ms=frame_ms)
    assert gif_blocks((tmp_path / "grown.gif").read_bytes()).count("image") == 4
    assert gif_blocks((tmp_path / "grown.gif").read_bytes())[-2:] == ["extension 0xf9", "image"]
    grown = iio.imread(tmp_path / "grown.gif", index=None)
    assert grown.shape == (4, 24, 40, 3)
    np.testing.assert_array_equal(grown, iio.imread(tmp_path / "whole.gif", index=None))
    with Image.open(tmp_path / "grown.gif") as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        assert gif.info["loop"] == 0
    assert durations == [60] * 4
    assert not list(tmp_path.glob("*.part*"))


def test_smaller_frames_are_padded_with_white_at_the_right_and_bottom(tmp_path):
    """A GIF's frames share one size: save_gif pads to the largest frame, an appended frame
    smaller than the GIF is padded to it."""
    wide, narrow, short = colour_frames(1, 24, 40)[0], colour_frames(1, 24, 30)[0], \
        colour_frames(1, 20, 40)[0]
    save_gif([narrow, wide], tmp_path / "a.gif")
    append_gif_frame(tmp_path / "a.gif", short, 100)
    frames = iio.imread(tmp_path / "a.gif", index=None)
    assert frames.shape == (3, 24, 40, 3)
    assert (frames[0][:, 30:] == 255).all() and (frames[2][20:] == 255).all()
    np.testing.assert_array_equal(frames[1], iio.imread(save_gif([wide], tmp_path / "w.gif"),
                                                        index=None)[0])


@pytest.mark.parametrize("content, expected", [
    (b"\x89PNG\r\n\x1a\n", "is not a complete GIF89a file"),
    ("grey frame", "the frame must be RGB (H, W, 3), got shape (24, 40)"),
    ("truncated", "is not a complete GIF89a file"),
    ("larger frame", "is (40, 24) pixels, the frame (50, 24)"),
])
def test_files_it_cannot_append_to_are_refused_and_left_alone(tmp_path, content, expected):
    path = tmp_path / "a.gif"
    save_gif(colour_frames(1), path)
    whole = path.read_bytes()
    if content == "truncated":
        path.write_bytes(whole[:-20])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    before = path.read_bytes()
    frame = colour_frames(0, width=50 if content == "larger frame" else 40)[0]
    if content == "grey frame":
        frame = frame[..., 0]
    with pytest.raises(NotAppendable, match=expected.replace("(", r"\(").replace(")", r"\)")):
        append_gif_frame(path, frame, 100)
    assert path.read_bytes() == before
