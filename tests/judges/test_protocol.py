"""The paper's judge protocol: prompt layout, media encoding and verdict parsing."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import wave
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from judges.protocol import (
    MediaError,
    PairView,
    build_messages,
    join_audio,
    jpeg_data_url,
    parse_verdict,
    system_message,
    to_wav_16k,
)

CRITERION = 'Prefer the response that follows the user\'s "no spoilers" rule; ignore length.\nTies are rare.'


@pytest.mark.parametrize(
    ("text", "with_tie", "expected"),
    [
        ("A is more faithful.\n[[A]]", False, "A"),
        ("[[B]]", False, "B"),
        ("[[C]]", True, "C"),
        ("[[C]]", False, "C"),  # a tie to the no-tie question: kept, and scored wrong
        ("Final answer: \\boxed{A}", False, "A"),
        ("\\boxed{ B }", False, "B"),
        ("\\boxed{\\text{C}}", True, "C"),
        ("[[ A ]]", False, "A"),
        ("[[A]] ... so again [[A]]", False, "A"),
        ("[[A]] then \\boxed{A}", True, "A"),
        ("Not [[A]] but [[B]]", False, None),
        ("[[B]] or maybe \\boxed{A}", True, None),
        ("[[A]] or a tie [[C]]", True, None),
        ("[[A]] or a tie [[C]]", False, None),
        ("I cannot decide.", True, None),
        ("", False, None),
        ("[[a]]", False, None),  # upper case only, as the paper's parser
        ("[[D]]", True, None),
        ("[A]", False, None),
        ("[[AB]]", False, None),
        ("\\boxed{AB}", False, None),
    ],
)
def test_parse_verdict(text: str, with_tie: bool, expected: str | None) -> None:
    assert parse_verdict(text, with_tie=with_tie) == expected


def test_system_message_carries_criterion_verbatim_and_tie_only_when_asked() -> None:
    without = system_message(CRITERION, "T2I", with_tie=False)
    with_tie = system_message(CRITERION, "T2I", with_tie=True)

    for message in (without, with_tie):
        assert CRITERION in message
        assert "[[A]]" in message
        assert "[[B]]" in message
        assert "order" in message
        assert "two images generated for the prompt" in message
    assert "[[C]]" not in without
    assert "sparingly" not in without
    assert "[[C]]" in with_tie
    assert "sparingly" in with_tie


def test_system_message_names_each_modality() -> None:
    assert "image-editing instruction and the original image" in system_message("c", "TI2I", with_tie=False)
    assert "two videos generated for the prompt" in system_message("c", "T2V", with_tie=False)
    assert "one second of silence" in system_message("c", "T2A", with_tie=False)
    assert "3D objects" in system_message("c", "T23D", with_tie=False)
    with pytest.raises(ValueError, match="unknown task"):
        system_message("c", "T2X", with_tie=False)


def decode(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header == "data:image/jpeg;base64"
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.format == "JPEG"
    return image.convert("RGB")


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def test_transparent_png_is_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # fully transparent black
    rgba.paste((200, 0, 0, 255), (20, 0, 40, 40))  # opaque red right half

    image = decode(jpeg_data_url(encode(rgba, "PNG")))

    assert all(channel >= 245 for channel in image.getpixel((5, 20)))
    red, green, blue = image.getpixel((35, 20))
    assert red > 180 and green < 40 and blue < 40


def test_palette_png_with_transparent_index_is_flattened_onto_white() -> None:
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.paste(1, (10, 0, 20, 20))

    image = decode(jpeg_data_url(encode(palette, "PNG", transparency=0)))

    assert all(channel >= 245 for channel in image.getpixel((3, 10)))
    assert image.getpixel((16, 10))[2] > 200


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    stored = Image.new("RGB", (80, 40), (0, 0, 220))
    stored.paste((220, 0, 0), (0, 0, 40, 40))  # red on the stored left half
    exif = Image.Exif()
    exif[0x0112] = 6  # display needs a 90 degree clockwise turn

    image = decode(jpeg_data_url(encode(stored, "JPEG", exif=exif, quality=95)))

    assert image.size == (40, 80)
    assert image.getpixel((20, 10))[0] > 180  # the stored left is now on top
    assert image.getpixel((20, 70))[2] > 180


def test_large_image_is_fitted_and_small_one_is_not_enlarged() -> None:
    assert decode(jpeg_data_url(encode(Image.new("RGB", (3000, 1500)), "PNG"))).size == (1024, 512)
    assert decode(jpeg_data_url(encode(Image.new("RGB", (3000, 1500)), "JPEG"), max_side=600)).size == (600, 300)
    assert decode(jpeg_data_url(encode(Image.new("L", (90, 60)), "PNG"))).size == (90, 60)


def test_unreadable_image_raises_a_clear_error() -> None:
    with pytest.raises(MediaError, match="could not read the image"):
        jpeg_data_url(b"definitely not an image")


def png(colour: tuple[int, int, int] = (0, 128, 0)) -> bytes:
    return encode(Image.new("RGB", (32, 24), colour), "PNG")


def sine_clip(path: Path, *, seconds: float, rate: int = 44_100, channels: int = 2) -> bytes:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=330:sample_rate={rate}:duration={seconds}", "-ac", str(channels), str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


_TOKEN = re.compile(r"\[\[[A-Z ]+\]\]|<[^<>\n]+>")


def skeleton(messages: list[dict[str, Any]]) -> list[str]:
    """The user message reduced to its markers, placeholders and media parts, in order."""
    tokens: list[str] = []
    for part in messages[1]["content"]:
        if part["type"] == "text":
            tokens.extend(_TOKEN.findall(part["text"]))
        else:
            tokens.append(part["type"].upper())
    return tokens


def response_blocks(a: list[str], b: list[str]) -> list[str]:
    return ["[[RESPONSE A]]", *a, "[[END OF RESPONSE A]]", "[[RESPONSE B]]", *b, "[[END OF RESPONSE B]]"]


PROMPT_BLOCK = ["[[PROMPT]]", "[[END OF PROMPT]]"]
IMG = "IMAGE_URL"


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (
            PairView(task="T2T", prompt="p", criterion="c", text_a="a", text_b="b"),
            PROMPT_BLOCK + response_blocks([], []),
        ),
        (
            PairView(task="TI2T", prompt="p", criterion="c", text_a="a", text_b="b", input_images=(png(),)),
            [*PROMPT_BLOCK, "[[IMAGE]]", "<image>", IMG, "[[END OF IMAGE]]", *response_blocks([], [])],
        ),
        (
            PairView(task="TV2T", prompt="p", criterion="c", text_a="a", text_b="b", input_images=(png(),) * 10),
            [
                *PROMPT_BLOCK,
                "[[VIDEO]]",
                "<video: 10 frames>",
                *[IMG] * 10,
                "[[END OF VIDEO]]",
                *response_blocks([], []),
            ],
        ),
        (
            PairView(task="T2I", prompt="p", criterion="c", images_a=(png(),), images_b=(png(),)),
            PROMPT_BLOCK + response_blocks(["<image>", IMG], ["<image>", IMG]),
        ),
        (
            PairView(
                task="TI2I", prompt="p", criterion="c", images_a=(png(),), images_b=(png(),), input_images=(png(),)
            ),
            [
                *PROMPT_BLOCK,
                *["[[ORIGINAL IMAGE]]", "<image>", IMG, "[[END OF ORIGINAL IMAGE]]"],
                *response_blocks(["<image>", IMG], ["<image>", IMG]),
            ],
        ),
        (
            PairView(task="T2V", prompt="p", criterion="c", images_a=(png(),) * 5, images_b=(png(),) * 5),
            PROMPT_BLOCK + response_blocks(["<video: 5 frames>", *[IMG] * 5], ["<video: 5 frames>", *[IMG] * 5]),
        ),
        (
            PairView(task="T23D", prompt="p", criterion="c", images_a=(png(),) * 4, images_b=(png(),) * 4),
            PROMPT_BLOCK
            + response_blocks(
                ["<3D object: 4 rendered views>", *[IMG] * 4], ["<3D object: 4 rendered views>", *[IMG] * 4]
            ),
        ),
    ],
    ids=lambda value: value.task if isinstance(value, PairView) else "",
)
def test_messages_have_the_blocks_of_their_task_in_order(view: PairView, expected: list[str]) -> None:
    messages = build_messages(view, with_tie=False)

    assert [message["role"] for message in messages] == ["system", "user"]
    assert messages[0]["content"] == system_message("c", view.task, with_tie=False)
    assert skeleton(messages) == expected


def test_response_texts_and_prompt_appear_inside_their_blocks() -> None:
    view = PairView(task="T2T", prompt="Name a prime.", criterion="c", text_a="Seven.", text_b="Nine.")

    (part,) = build_messages(view, with_tie=True)[1]["content"]

    assert "[[PROMPT]]\nName a prime.\n[[END OF PROMPT]]" in part["text"]
    assert "[[RESPONSE A]]\nSeven.\n[[END OF RESPONSE A]]" in part["text"]
    assert "[[RESPONSE B]]\nNine.\n[[END OF RESPONSE B]]" in part["text"]


def test_audio_tasks_send_16k_wav_parts(tmp_path: Path) -> None:
    clip = sine_clip(tmp_path / "in.wav", seconds=0.5)
    ta2t = PairView(task="TA2T", prompt="p", criterion="c", text_a="a", text_b="b", input_audio=clip)
    t2a = PairView(task="T2A", prompt="p", criterion="c", audio_a=clip, audio_b=clip)

    ta2t_messages = build_messages(ta2t, with_tie=False)
    t2a_messages = build_messages(t2a, with_tie=False)

    assert skeleton(ta2t_messages) == [
        *PROMPT_BLOCK, "[[AUDIO]]", "<audio>", "INPUT_AUDIO", "[[END OF AUDIO]]", *response_blocks([], [])
    ]  # fmt: skip
    t2a_skeleton = skeleton(t2a_messages)
    assert t2a_skeleton[-1] == "INPUT_AUDIO"
    assert t2a_skeleton.count("INPUT_AUDIO") == 1
    assert "then 1 second of silence, then response B" in t2a_messages[1]["content"][0]["text"]
    part = ta2t_messages[1]["content"][1]["input_audio"]
    assert part["format"] == "wav"
    with wave.open(io.BytesIO(base64.b64decode(part["data"]))) as converted:
        assert (converted.getframerate(), converted.getnchannels(), converted.getsampwidth()) == (16_000, 1, 2)


def test_missing_content_for_the_task_is_refused() -> None:
    with pytest.raises(ValueError, match="no text for response B"):
        build_messages(PairView(task="T2T", prompt="p", criterion="c", text_a="a"), with_tie=False)
    with pytest.raises(ValueError, match="no input image"):
        build_messages(
            PairView(task="TI2I", prompt="p", criterion="c", images_a=(png(),), images_b=(png(),)), with_tie=False
        )
    with pytest.raises(ValueError, match="unknown task"):
        build_messages(PairView(task="X2Y", prompt="p", criterion="c"), with_tie=False)


def test_broken_response_image_names_the_response() -> None:
    view = PairView(task="T2I", prompt="p", criterion="c", images_a=(png(),), images_b=(b"\x89PNG broken",))

    with pytest.raises(MediaError, match="response B image 1: could not read the image"):
        build_messages(view, with_tie=False)


def test_join_audio_puts_one_second_of_silence_between_the_clips(tmp_path: Path) -> None:
    a = sine_clip(tmp_path / "a.wav", seconds=0.8, rate=48_000, channels=2)
    b = sine_clip(tmp_path / "b.ogg", seconds=0.6, rate=22_050, channels=1)

    with wave.open(io.BytesIO(join_audio(a, b))) as joined:
        rate, channels, frames = joined.getframerate(), joined.getnchannels(), joined.getnframes()
        samples = joined.readframes(frames)

    assert (rate, channels) == (16_000, 1)
    assert frames / rate == pytest.approx(0.8 + 1.0 + 0.6, abs=0.05)
    gap = samples[int(0.85 * rate) * 2 : int(1.75 * rate) * 2]
    assert set(gap) == {0}
    assert any(samples[: int(0.7 * rate) * 2])


def test_broken_clip_raises_an_error_naming_the_clip(tmp_path: Path) -> None:
    good = sine_clip(tmp_path / "good.wav", seconds=0.3)

    with pytest.raises(MediaError, match="response B's audio could not be decoded as audio"):
        join_audio(good, b"RIFF\x00\x00garbage that is no audio")
    with pytest.raises(MediaError, match="response A's audio"):
        join_audio(b"", good)


def test_video_without_audio_track_is_refused(tmp_path: Path) -> None:
    silent_video = tmp_path / "v.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=32x32:d=0.2",
         "-pix_fmt", "yuv420p", str(silent_video)],
        check=True,
    )  # fmt: skip

    with pytest.raises(MediaError, match="the input audio"):
        to_wav_16k(silent_video.read_bytes(), what="the input audio")
