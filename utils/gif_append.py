"""Add one frame to the end of an animated GIF without decoding or re-encoding its frames.

A GIF89a file (https://www.w3.org/Graphics/GIF/spec-gif89a.txt) is a header, a logical
screen descriptor, an optional global colour table, then blocks: extensions (0x21), images
(0x2C: a descriptor, an optional local colour table and LZW data in sub-blocks) and a
trailer byte (0x3B). A frame is appended by encoding it alone with Pillow, taking its image
block (its palette moved into a local colour table), and writing the old file without its
trailer, a graphic control extension with the frame's delay, that image block and the
trailer. The cost is that of one frame's encoding plus a copy of the file's bytes, instead of
decoding and encoding every frame again; the file is replaced atomically, so a reader sees
the old or the new GIF, never a partial one.
"""
import io

import numpy as np
from PIL import Image

from disvae.utils.run_folder import write_atomically

TRAILER = 0x3B
IMAGE = 0x2C
EXTENSION = 0x21
GRAPHIC_CONTROL = 0xF9
DISPOSE_LEAVE = 1  # disposal method "do not dispose": the next frame covers this one whole


class NotAppendable(ValueError):
    """The file is not a GIF89a this module can append to (write the whole GIF instead)."""


def colour_table_size(packed):
    """Bytes of the colour table announced by a descriptor's packed byte (0 without one)."""
    return 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0


def skip_sub_blocks(data, position):
    """The position after a chain of data sub-blocks (length byte, bytes) ending with 0."""
    while data[position]:
        position += data[position] + 1
    return position + 1


def screen_size(data):
    """(width, height) of a GIF's logical screen."""
    return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")


def single_frame_image_block(frame):
    """The image block (descriptor, local colour table, LZW data) of a uint8 (H, W, 3)
    frame, quantised by Pillow as it quantises every frame of a GIF it writes."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="GIF", interlace=False)
    data = buffer.getvalue()
    global_table = data[13:13 + colour_table_size(data[10])]
    position = 13 + len(global_table)
    while data[position] == EXTENSION:
        position = skip_sub_blocks(data, position + 2)
    if data[position] != IMAGE:
        raise NotAppendable("Pillow wrote no image block")
    descriptor = bytearray(data[position:position + 10])
    local_table = colour_table_size(descriptor[9])
    end = skip_sub_blocks(data, position + 10 + local_table + 1)  # +1: LZW minimum code size
    if local_table:
        return bytes(data[position:end])
    descriptor[9] = (descriptor[9] & 0x40) | 0x80 | (data[10] & 0x07)  # keep interlacing only
    return bytes(descriptor) + global_table + data[position + 10:end]


def graphic_control(frame_ms):
    """A graphic control extension: the frame's delay (in hundredths of a second, as GIF
    counts, truncated as Pillow truncates it for the frames it writes), disposal 'leave', no
    transparency."""
    delay = int(frame_ms / 10)
    return bytes([EXTENSION, GRAPHIC_CONTROL, 4, DISPOSE_LEAVE << 2]) + \
        delay.to_bytes(2, "little") + bytes([0, 0])


def pad_frame(frame, height, width):
    """uint8 frame (H, W, 3) on a white canvas of height x width, at its top left (a GIF's
    frames share one size)."""
    if frame.shape[:2] == (height, width):
        return frame
    canvas = np.full((height, width, frame.shape[2]), 255, dtype=np.uint8)
    canvas[:frame.shape[0], :frame.shape[1]] = frame
    return canvas


def append_gif_frame(path, frame, frame_ms):
    """Append uint8 (H, W, 3) `frame` to the animated GIF at path (GIF89a), shown for
    frame_ms milliseconds; a frame smaller than the GIF is padded with white at its right
    and bottom. NotAppendable when the file is not such a GIF, or the frame is larger or not
    RGB. Unlike a GIF written whole by Pillow, a frame equal to the one before it is kept as
    a frame of its own (Pillow merges such frames and adds up their delays)."""
    with open(path, "rb") as handle:
        data = handle.read()
    height, width = frame.shape[:2]
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise NotAppendable(f"the frame must be RGB (H, W, 3), got shape {frame.shape}")
    if not data.startswith(b"GIF89a") or len(data) < 14 or data[-1] != TRAILER:
        raise NotAppendable(f"{path} is not a complete GIF89a file")
    screen_width, screen_height = screen_size(data)
    if width > screen_width or height > screen_height:
        raise NotAppendable(f"{path} is {screen_size(data)} pixels, the frame {(width, height)}")
    block = graphic_control(frame_ms) + single_frame_image_block(
        pad_frame(frame, screen_height, screen_width))

    def write(partial):
        with open(partial, "wb") as handle:
            handle.write(data[:-1])
            handle.write(block)
            handle.write(bytes([TRAILER]))

    return write_atomically(path, write)
