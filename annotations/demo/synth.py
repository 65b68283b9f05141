"""Real media made on this machine for the demo: Pillow images, ffmpeg video and audio, trimesh meshes.

Each generator takes the attributes that criteria later talk about ("the red one", "the longer
clip"), so a preference can depend on the criterion rather than on the media alone.
"""

from __future__ import annotations

import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw

COLOURS = {
    "red": (214, 48, 49),
    "green": (39, 174, 96),
    "yellow": (241, 196, 15),
    "blue": (41, 98, 214),
    "white": (250, 250, 250),
    "black": (25, 25, 25),
}


class SynthError(RuntimeError):
    pass


def require_ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SynthError("ffmpeg is not installed; `make demo` installs it (apt-get install ffmpeg).")
    return ffmpeg


def image(path: Path, *, shape: str, colour: str, size: str, background: str, edge: int = 384) -> None:
    img = Image.new("RGB", (edge, edge), COLOURS[background])
    draw = ImageDraw.Draw(img)
    half = edge * (0.38 if size == "large" else 0.16)
    c = edge / 2
    box = (c - half, c - half, c + half, c + half)
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(c, c - half), (c + half, c + half), (c - half, c + half)], fill=fill)
    # A faint gradient so images are not flat colour fields (and compress like photos do).
    noise = np.random.default_rng(zlib.crc32(f"{shape}{colour}{size}{background}".encode())).integers(
        0, 12, (edge, edge, 3)
    )
    arr = np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix == ".png" else "JPEG"
    Image.fromarray(arr).save(path, fmt, **({"quality": 88} if fmt == "JPEG" else {"compress_level": 1}))


_PATTERNS = {
    "test pattern": "testsrc2",
    "colour bars": "smptebars",
    "fractal": "mandelbrot",
    "cellular automaton": "life",
}


def video(path: Path, *, pattern: str, seconds: int, tone_hz: int = 440) -> None:
    source = _PATTERNS[pattern]
    extra = ":mold=10:life_color=#00ff88" if source == "life" else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The encoders' fastest settings: the demo is seeded in seconds (VP9's default "good" deadline spent a
    # minute on one four-second clip); the files are still real VP9/WebM and H.264/MP4.
    codec = (
        ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-c:a", "libvorbis"]
        if path.suffix == ".webm"
        else ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "faststart"]
    )
    lavfi(
        path,
        [f"{source}=size=320x240:rate=24{extra}", f"sine=frequency={tone_hz}:sample_rate=44100"],
        ["-t", str(seconds), *codec, "-shortest"],
    )


def audio(path: Path, *, sound: str, seconds: int) -> None:
    if sound == "high beep":
        source = "sine=frequency=880:sample_rate=44100"
    elif sound == "low hum":
        source = "sine=frequency=110:sample_rate=44100"
    elif sound == "rain-like noise":
        source = "anoisesrc=color=pink:amplitude=0.3:sample_rate=44100"
    else:  # "chirp": a rising tone
        source = "aevalsrc=0.5*sin(2*PI*(200+300*t)*t):s=44100"
    path.parent.mkdir(parents=True, exist_ok=True)
    lavfi(path, [source], ["-t", str(seconds), "-ac", "1"])


def mesh(path: Path, *, shape: str, colour: str) -> None:
    if shape == "cube":
        body = trimesh.creation.box(extents=(1, 1, 1))
    elif shape == "sphere":
        body = trimesh.creation.icosphere(subdivisions=3, radius=0.6)
    elif shape == "torus":
        body = trimesh.creation.torus(major_radius=0.6, minor_radius=0.2)
    else:
        body = trimesh.creation.cone(radius=0.5, height=1.2)
    rgba = np.array([*COLOURS[colour], 255], dtype=np.uint8)
    body.visual.vertex_colors = np.tile(rgba, (len(body.vertices), 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    body.export(path)


def lavfi(path: Path, sources: list[str], options: list[str]) -> None:
    """Render ffmpeg's synthetic lavfi sources into `path`."""
    inputs = [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
    _run([require_ffmpeg(), "-y", "-loglevel", "error", *inputs, *options, str(path)])


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SynthError(f"{Path(cmd[0]).name} failed making {cmd[-1]}: {done.stderr.strip()[:500]}")
