"""The rows of the generated fixture release (tests/fixture_release.py): prompts, responses, criteria, labels.

Written for the tests, in the style of the published release: every config has a prompt whose two
responses appear twice, under different criteria and with opposite labels, and at least one tie.
Response files are named after their model, `<config>/<prompt folder>/<model>.<ext>` under media_data/.
"""

from __future__ import annotations

from typing import Any


def _rows(prefix: str, *rows: tuple[Any, ...], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows given as tuples in `columns` order; ids are numbered the way the published release numbers them."""
    return [{"id": f"{prefix}_{n:04d}", **dict(zip(columns, row, strict=True))} for n, row in enumerate(rows, 1)]


_TEXT = ("prompt", "response1", "response2", "model1", "model2", "criteria", "criteria_preference")
_PROCESS = (
    "Explain the difference between a process and a thread in two sentences.",
    "A process is a running program with its own memory; a thread is a path of execution inside a process "
    "that shares that memory with the process's other threads.",
    "Processes and threads both run code. Threads are lighter.",
    "gpt-4o-2024-08-06",
    "Llama-3.1-70B-Instruct",
)
_SHAPE = (
    "What shape is in the image, and what colour is it?",
    "A red circle.",
    "A large red circle on a white background; the top-left corner of the image is transparent.",
    "Qwen2-VL-72B-Instruct",
    "InternVL2-26B",
)
_CLIP = (
    "What is shown in this clip, and what can you hear?",
    "A broadcast test pattern with moving colour bars and a counter, over a steady tone.",
    "Some colours.",
    "LLaVA-Video-72B-Qwen2",
    "Qwen2-VL-72B-Instruct",
)
_CHIRP = (
    "Describe the sound.",
    "A tone that rises steadily in pitch: a chirp.",
    "A steady beep at one pitch.",
    "gpt-4o-audio-preview-2024-10-01",
    "Qwen2-Audio-7B-Instruct",
)
_CIRCLE = ("A large red circle on a plain white background.", "FLUX.1-dev", "sdxl-base-1.0")
_COUNTER = ("A television test card with a running counter.", "CogVideoX-5B", "HunyuanVideo")
_RAIN = ("Rain falling steadily on a tin roof.", "AudioLDM2-large", "Tango-2")
_SWEEP = ("A one-second rising synthesizer sweep.", "Stable-Audio-Open-1.0", "MusicGen-large")
_BALL = ("A smooth round ball.", "InstantMesh", "LGM")
_GREY = ("Make the photo black and white.", "InstructPix2Pix", "MagicBrush")
_SQUARE = ("Replace the picture with a red square.", "UltraEdit", "OmniGen")


def _media_rows(config: str, prefix: str, *rows: tuple[Any, ...], extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Rows whose responses are files `<config>/<prompt folder>/<model>.<ext>` under media_data/."""
    out = []
    for n, (folder, (prompt, model1, model2), ext1, ext2, criteria, label, *rest) in enumerate(rows, 1):
        path1, path2 = f"{config}/{folder}/{model1}.{ext1}", f"{config}/{folder}/{model2}.{ext2}"
        paths = (
            {"response1": path1, "response2": path2}
            if config == "text_to_video"
            else {"response1_path": path1, "response2_path": path2}
        )
        row = {
            "id": f"{prefix}_{n:04d}",
            "prompt": prompt,
            "model1": model1,
            "model2": model2,
            "criteria": criteria,
            "criteria_preference": label,
            **paths,
            **dict(zip(extra, rest, strict=True)),
        }
        out.append(row)
    return out


R1, R2, TIE = "response1", "response2", "tie"
ROWS: dict[str, list[dict[str, Any]]] = {
    "text_to_text": _rows(
        "t2t",
        (*_PROCESS, "Technical accuracy: the answer must say that threads share their process's memory.", R1),
        (*_PROCESS, "Brevity: prefer the answer a beginner can read in five seconds.", R2),
        (
            "Write a haiku about the first frost.",
            "Silent overnight\nthe garden forgets its green\none leaf holds the light",
            "Frost came in the night and it was very cold, so the plants in the garden froze.",
            "claude-3-5-sonnet-20241022",
            "Qwen2.5-72B-Instruct",
            "Form: a haiku has three lines of five, seven and five syllables.",
            R1,
        ),
        (
            "What is the capital of Australia?",
            "Canberra.",
            "The capital is Canberra, a planned city chosen as a compromise between Sydney and Melbourne.",
            "gemini-1.5-pro-002",
            "Mistral-Large-Instruct-2407",
            "Correctness only: the answer must name the right city.",
            TIE,
        ),
        (
            "How long does a landlord have to return a deposit?",
            "Always exactly 14 days, everywhere.",
            "It depends on where you live; many places allow 14 to 30 days. Check your local tenancy law.",
            "Llama-3.1-8B-Instruct",
            "gpt-4o-mini-2024-07-18",
            "Honesty about uncertainty: the answer must not state one rule for every jurisdiction.",
            R2,
        ),
        columns=_TEXT,
    ),
    "text_image_to_text": _rows(
        "ti2t",
        (
            "Describe the picture, including which way up it should be.",
            "A red rectangle in one corner and a green disc in the opposite one, on a dark background; the "
            "camera stored it on its side.",
            "A dark image.",
            "gpt-4o-2024-05-13",
            "llava-v1.6-34b",
            "Completeness: the description must mention both shapes and their colours.",
            R1,
            "text_image_to_text/ti2t_0001.jpg",
        ),
        (*_SHAPE, "Detail: mention everything visible, transparency included.", R2, "text_image_to_text/ti2t_0002.png"),
        (*_SHAPE, "Conciseness: answer the question and nothing else.", R1, "text_image_to_text/ti2t_0002.png"),
        (
            "Is this image in colour?",
            "No, it is greyscale: a small dark square on a lighter background.",
            "No, it is a black-and-white picture of a small square.",
            "gemini-1.5-flash-002",
            "MiniCPM-V-2_6",
            "Accuracy: the answer must say that the image has no colour.",
            TIE,
            "text_image_to_text/ti2t_0003.png",
        ),
        (
            "What is drawn here?",
            "A red triangle.",
            "A black triangle on white.",
            "Qwen2-VL-7B-Instruct",
            "gpt-4o-2024-08-06",
            "Correct colours: name the colours exactly as they appear.",
            R2,
            "text_image_to_text/ti2t_0004.png",
        ),
        columns=(*_TEXT, "image_path"),
    ),
    "text_video_to_text": _rows(
        "tv2t",
        (
            *_CLIP,
            "Completeness: the answer must cover both the picture and the sound.",
            R1,
            "text_video_to_text/tv2t_0001.mp4",
        ),
        (*_CLIP, "Brevity: one short phrase is enough.", R2, "text_video_to_text/tv2t_0001.mp4"),
        (
            "Describe what the video shows.",
            "A zoom into a Mandelbrot fractal.",
            "A colourful fractal pattern.",
            "gemini-1.5-pro-002",
            "VideoLLaMA2-7B",
            "Both answers must say that it is a fractal.",
            TIE,
            "text_video_to_text/tv2t_0003.webm",
        ),
        (
            "What kind of video is this?",
            "A clip of a cat playing.",
            "SMPTE colour bars, used to calibrate displays.",
            "InternVL2_5-78B",
            "LLaVA-Video-7B-Qwen2",
            "Correctness: name what is on screen.",
            R2,
            "text_video_to_text/tv2t_0004.mp4",
        ),
        columns=(*_TEXT, "video"),
    ),
    "text_audio_to_text": _rows(
        "ta2t",
        (
            *_CHIRP,
            "Accuracy about how the pitch moves.",
            R1,
            "text_audio_to_text/ta2t_0001.flac",
        ),
        (*_CHIRP, "Brevity: prefer the shorter description.", R2, "text_audio_to_text/ta2t_0001.flac"),
        (
            "Roughly what pitch is this tone?",
            "A low hum near 100 Hz.",
            "A high beep, around 880 Hz.",
            "SALMONN-13B",
            "gemini-2.0-flash-001",
            "The pitch range must be right.",
            R2,
            "text_audio_to_text/ta2t_0002.wav",
        ),
        (
            "Is there speech in this recording?",
            "No, it is broadband noise that sounds like rain.",
            "No speech: it is pink noise.",
            "Qwen2-Audio-7B-Instruct",
            "gemini-1.5-pro-002",
            "Both must say that nobody speaks.",
            TIE,
            "text_audio_to_text/ta2t_0003.mp3",
        ),
        (
            "Describe the sound.",
            "A low, steady hum.",
            "Birdsong in a forest.",
            "gemini-2.0-flash-001",
            "SALMONN-13B",
            "Accuracy: describe what is actually heard.",
            R1,
            "text_audio_to_text/ta2t_0004.ogg",
        ),
        columns=(*_TEXT, "audio_path"),
    ),
    "text_to_image": _media_rows(
        "text_to_image",
        "t2i",
        ("t2i_p001", _CIRCLE, "jpg", "jpg", "Prompt fidelity: a large circle on white.", R1, "GenAI-Bench"),
        (
            "t2i_p001",
            _CIRCLE,
            "jpg",
            "jpg",
            "Contrast: the subject should stand out from its background.",
            R2,
            "GenAI-Bench",
        ),
        (
            "t2i_p002",
            ("A green square logo on a transparent background.", "dall-e-3", "stable-diffusion-v1-5"),
            "png",
            "png",
            "Colour: both must use green as asked.",
            TIE,
            "Pick-a-Pic",
        ),
        (
            "t2i_p003",
            ("A black-and-white photo of a white disc.", "kandinsky-3", "midjourney-v6"),
            "png",
            "jpg",
            "Monochrome: the image must have no colour.",
            R1,
            "HPDv2",
        ),
        extra=("source",),
    ),
    "text_to_video": _media_rows(
        "text_to_video",
        "t2v",
        ("t2v_p001", _COUNTER, "webm", "mp4", "Prompt fidelity: the clip must show a test card.", R1, "VidProM"),
        (
            "t2v_p001",
            _COUNTER,
            "webm",
            "mp4",
            "Contrast: prefer the clip whose colours are most saturated.",
            R2,
            "VidProM",
        ),
        (
            "t2v_p002",
            ("A slow zoom into a colourful fractal.", "Kling-1.6", "Mochi-1"),
            "mp4",
            "ogv",
            "Duration: both clips must last about one second.",
            TIE,
            "VideoGen-RewardBench",
        ),
        (
            "t2v_p003",
            ("A test pattern that fades in from transparency.", "Pika-1.5", "Gen-3-Alpha"),
            "webm",
            "webm",
            "Transparency: the clip should carry an alpha channel.",
            R2,
            "T2VQA-DB",
        ),
        extra=("source",),
    ),
    "text_to_audio": _media_rows(
        "text_to_audio",
        "t2a",
        ("t2a_p001", _RAIN, "ogg", "mp3", "Realism: it should sound like rain.", R1, "AudioCaps"),
        ("t2a_p001", _RAIN, "ogg", "mp3", "Bass: prefer the sound with more low-frequency content.", R2, "AudioCaps"),
        ("t2a_p002", _SWEEP, "wav", "flac", "The pitch must rise over time.", R1, "MusicCaps"),
        ("t2a_p002", _SWEEP, "wav", "flac", "Duration: the sound must last about one second.", TIE, "MusicCaps"),
        extra=("source",),
    ),
    "text_to_3D": _media_rows(
        "text_to_3D",
        "t23d",
        (
            "t23d_p001",
            ("A red cube.", "TRELLIS", "Shap-E"),
            "png",
            "png",
            "Geometry: the object must be a cube with sharp edges.",
            R1,
        ),
        ("t23d_p002", _BALL, "png", "png", "Surface: prefer the smoother ball.", R2),
        ("t23d_p002", _BALL, "png", "png", "Colour: the ball should be blue.", R1),
        (
            "t23d_p003",
            ("A green cone.", "TripoSR", "DreamFusion"),
            "png",
            "png",
            "Both must show a green pointed shape.",
            TIE,
        ),
    ),
    "text_image_to_image": _media_rows(
        "text_image_to_image",
        "ti2i",
        (
            "ti2i_p001",
            _GREY,
            "jpg",
            "png",
            "Keep the grey tones: prefer smooth greys over a hard two-tone image.",
            R1,
            "text_image_to_image/ti2i_p001/input.png",
        ),
        (
            "ti2i_p001",
            _GREY,
            "jpg",
            "png",
            "Contrast: prefer the crisper, higher-contrast result.",
            R2,
            "text_image_to_image/ti2i_p001/input.png",
        ),
        (
            "ti2i_p002",
            _SQUARE,
            "jpg",
            "png",
            "Size: the square should fill most of the frame.",
            R2,
            "text_image_to_image/ti2i_p002/input.jpg",
        ),
        (
            "ti2i_p002",
            _SQUARE,
            "jpg",
            "png",
            "Colour: the square must be red.",
            TIE,
            "text_image_to_image/ti2i_p002/input.jpg",
        ),
        extra=("image_path",),
    ),
}
