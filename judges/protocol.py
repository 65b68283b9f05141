"""How a model judge is asked about one pair, and how its answer is read (the paper's protocol).

Pure functions: no Django, no network. Media is re-encoded here (JPEG for images, 16 kHz mono
WAV for audio) so every OpenAI-compatible endpoint receives the same bytes.
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageOps

Verdict = Literal["A", "B", "C"]

AUDIO_RATE = 16_000
SILENCE_S = 1.0
FFMPEG_TIMEOUT_S = 120

TEXT_TASKS = frozenset({"T2T", "TI2T", "TV2T", "TA2T"})
IMAGE_TASKS = frozenset({"T2I", "T2V", "T23D", "TI2I"})

# What the judge is told it is looking at, per task.
_TASK_SETUP: dict[str, str] = {
    "T2T": "a user prompt and two text responses to it",
    "TI2T": "an image, a user prompt about it and two text responses",
    "TV2T": "a video (shown as frames sampled evenly over its length), a user prompt about it and two text responses",
    "TA2T": "an audio clip, a user prompt about it and two text responses",
    "T2I": "a text prompt and two images generated for the prompt",
    "T2V": "a text prompt and two videos generated for the prompt, each shown as frames sampled evenly over its length",
    "T2A": (
        "a text prompt and two audio clips generated for the prompt, joined into one recording: "
        "response A first, then one second of silence, then response B"
    ),
    "T23D": "a text prompt and two 3D objects generated for the prompt, each shown as rendered views",
    "TI2I": "an image-editing instruction and the original image, and two edited images produced from them",
}

# Input block that sits between the prompt and the responses: (marker name, PairView field).
_INPUT_BLOCK: dict[str, str] = {"TI2T": "IMAGE", "TV2T": "VIDEO", "TA2T": "AUDIO", "TI2I": "ORIGINAL IMAGE"}


class MediaError(ValueError):
    """A pair's image or audio could not be decoded; the message names which one and why."""


@dataclass(frozen=True)
class PairView:
    """What a judge sees of one pair, in the order it is presented (A = left/first)."""

    task: str
    prompt: str
    criterion: str
    text_a: str | None = None
    text_b: str | None = None
    images_a: tuple[bytes, ...] = ()
    images_b: tuple[bytes, ...] = ()
    input_images: tuple[bytes, ...] = ()
    audio_a: bytes | None = None
    audio_b: bytes | None = None
    input_audio: bytes | None = None


def system_message(criterion: str, task: str, *, with_tie: bool) -> str:
    if task not in _TASK_SETUP:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(_TASK_SETUP)}")
    verdicts = "[[A]] if response A is better, [[B]] if response B is better"
    if with_tie:
        verdicts += (
            ", or [[C]] if the two are equally good by the criterion. Use [[C]] sparingly: only when, "
            "after a careful comparison, neither response is better"
        )
    return (
        f"You are an impartial judge. You are given {_TASK_SETUP[task]}.\n\n"
        "Compare the two responses strictly by this criterion:\n"
        f"{criterion}\n\n"
        "Judge only by that criterion and ignore every other quality of the responses (length, style, "
        "tone and so on) unless the criterion itself is about it. The order in which the responses are "
        "shown must not affect your judgement: being first or second is neither an advantage nor a "
        "disadvantage.\n\n"
        "First reason briefly, comparing the two responses on the criterion. Then, on the last line, give "
        f"your verdict in exactly this format: {verdicts}."
    )


def build_messages(view: PairView, *, with_tie: bool) -> list[dict[str, Any]]:
    """The chat messages for one pair: a system message and a user content list (OpenAI style)."""
    content = _Content()
    content.text(f"[[PROMPT]]\n{view.prompt}\n[[END OF PROMPT]]\n\n")
    if view.task in _INPUT_BLOCK:
        _add_input_block(content, view)
    if view.task in TEXT_TASKS:
        for side, text in (("A", view.text_a), ("B", view.text_b)):
            if text is None:
                raise ValueError(f"{view.task} pair has no text for response {side}")
            content.text(f"[[RESPONSE {side}]]\n{text}\n[[END OF RESPONSE {side}]]\n\n")
    elif view.task in IMAGE_TASKS:
        for side, images in (("A", view.images_a), ("B", view.images_b)):
            if not images:
                raise ValueError(f"{view.task} pair has no images for response {side}")
            content.text(f"[[RESPONSE {side}]]\n{_placeholder(view.task, len(images))}\n")
            for index, image in enumerate(images):
                content.image(image, what=f"response {side} image {index + 1}")
            content.text(f"[[END OF RESPONSE {side}]]\n\n")
    elif view.task == "T2A":
        if view.audio_a is None or view.audio_b is None:
            raise ValueError("T2A pair needs audio for both responses")
        content.text(
            "[[RESPONSE A]]\n<audio: the first clip of the recording below>\n[[END OF RESPONSE A]]\n\n"
            "[[RESPONSE B]]\n<audio: the second clip of the recording below>\n[[END OF RESPONSE B]]\n\n"
            "The recording holds both responses: response A first, then 1 second of silence, then response B.\n"
        )
        content.audio(join_audio(view.audio_a, view.audio_b))
    else:
        raise ValueError(f"unknown task {view.task!r}; expected one of {', '.join(_TASK_SETUP)}")
    return [
        {"role": "system", "content": system_message(view.criterion, view.task, with_tie=with_tie)},
        {"role": "user", "content": content.parts},
    ]


def _add_input_block(content: _Content, view: PairView) -> None:
    name = _INPUT_BLOCK[view.task]
    if view.task == "TA2T":
        if view.input_audio is None:
            raise ValueError("TA2T pair has no input audio")
        content.text(f"[[{name}]]\n<audio>\n")
        content.audio(to_wav_16k(view.input_audio, what="the input audio"))
    else:
        if not view.input_images:
            raise ValueError(f"{view.task} pair has no input image")
        label = f"<video: {len(view.input_images)} frames>" if view.task == "TV2T" else _images_placeholder(view)
        content.text(f"[[{name}]]\n{label}\n")
        for index, image in enumerate(view.input_images):
            content.image(image, what=f"input image {index + 1}")
    content.text(f"[[END OF {name}]]\n\n")


def _images_placeholder(view: PairView) -> str:
    return "<image>" if len(view.input_images) == 1 else f"<images: {len(view.input_images)}>"


def _placeholder(task: str, count: int) -> str:
    if task == "T2V":
        return f"<video: {count} frames>"
    if task == "T23D":
        return f"<3D object: {count} rendered views>"
    return "<image>" if count == 1 else f"<images: {count}>"


class _Content:
    """Builds an OpenAI content list, merging adjacent text so each block reads as one part."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []

    def text(self, text: str) -> None:
        if self.parts and self.parts[-1]["type"] == "text":
            self.parts[-1]["text"] += text
        else:
            self.parts.append({"type": "text", "text": text})

    def image(self, image: bytes, *, what: str) -> None:
        try:
            url = jpeg_data_url(image)
        except MediaError as err:
            raise MediaError(f"{what}: {err}") from err
        self.parts.append({"type": "image_url", "image_url": {"url": url}})

    def audio(self, wav: bytes) -> None:
        data = base64.b64encode(wav).decode("ascii")
        self.parts.append({"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})


def jpeg_data_url(image: bytes, *, max_side: int = 1024) -> str:
    """A base64 JPEG data URL: upright (EXIF applied), transparency on white, fitted within max_side."""
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    try:
        with Image.open(io.BytesIO(image)) as opened:
            # For JPEGs, decode at a reduced scale straight away; the result is still >= max_side.
            opened.draft("RGB", (max_side, max_side))
            upright = ImageOps.exif_transpose(opened)
            rgb = _flatten_on_white(upright)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise MediaError(f"could not read the image ({err})") from err
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _flatten_on_white(image: Image.Image) -> Image.Image:
    # JPEG has no alpha; dropping it would show whatever colour hides under transparent pixels
    # (often black), so composite onto white as the paper does.
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    return image.convert("RGB")


def to_wav_16k(audio: bytes, *, what: str = "the audio clip") -> bytes:
    """Any ffmpeg-readable audio as 16 kHz mono 16-bit WAV; MediaError (naming `what`) if it can't be read."""
    with tempfile.TemporaryDirectory(prefix="judge-audio-") as tmp:
        source, target = Path(tmp) / "in", Path(tmp) / "out.wav"
        source.write_bytes(audio)
        command = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(source),
            "-vn", "-ac", "1", "-ar", str(AUDIO_RATE), "-c:a", "pcm_s16le", "-f", "wav", str(target),
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
        except FileNotFoundError as err:
            raise MediaError("ffmpeg is not installed, so audio cannot be converted") from err
        except subprocess.TimeoutExpired as err:
            raise MediaError(f"{what} took longer than {FFMPEG_TIMEOUT_S} s to convert") from err
        if result.returncode != 0 or not target.is_file():
            detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = detail[-1].replace(f"{source}: ", "") if detail else f"ffmpeg exited with {result.returncode}"
            raise MediaError(f"{what} could not be decoded as audio: {reason}")
        wav = target.read_bytes()
    if _wav_frames(wav) == 0:
        raise MediaError(f"{what} contains no audio samples")
    return wav


def join_audio(a: bytes, b: bytes) -> bytes:
    """One 16 kHz mono WAV: clip A, 1 s of silence, clip B (how the paper sends a T2A pair)."""
    parts = [
        _wav_samples(to_wav_16k(a, what="response A's audio")),
        b"\x00\x00" * int(AUDIO_RATE * SILENCE_S),
        _wav_samples(to_wav_16k(b, what="response B's audio")),
    ]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(AUDIO_RATE)
        out.writeframes(b"".join(parts))
    return buffer.getvalue()


def _wav_frames(wav: bytes) -> int:
    with wave.open(io.BytesIO(wav), "rb") as reader:
        return reader.getnframes()


def _wav_samples(wav: bytes) -> bytes:
    with wave.open(io.BytesIO(wav), "rb") as reader:
        return reader.readframes(reader.getnframes())


# Upper case only, as in the paper's parser: a lower-case "[[a]]" is not read as a verdict, so
# scores stay comparable with the published ones. Whitespace inside the brackets is tolerated,
# and so is \boxed{\text{A}}, which maths-tuned models write for \boxed{A}.
_VERDICT_RE = re.compile(
    r"\[\[\s*([ABC])\s*\]\]"
    r"|\\boxed\{\s*(?:\\text(?:bf)?\{\s*([ABC])\s*\}|([ABC]))\s*\}"
)


def parse_verdict(text: str, *, with_tie: bool) -> Verdict | None:
    """The verdict in a judge's answer, or None when there is none or it is contradictory.

    Several marks are fine if they agree; marks for two different answers make the answer
    unparseable. A tie mark answering the no-tie question is still a tie, as the paper records it:
    it then counts as wrong (DOMAIN.md, accuracy w/o Tie), rather than being asked again.
    """
    found = {next(group for group in match.groups() if group) for match in _VERDICT_RE.finditer(text)}
    if len(found) != 1:
        return None
    verdict = found.pop()
    if verdict == "A":
        return "A"
    if verdict == "B":
        return "B"
    return "C"
