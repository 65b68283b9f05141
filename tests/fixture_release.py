"""A small release in the exact Omni-RewardBench layout, generated so the tests need nothing beside the clone.

`release_write(folder)` writes nine `<config>/test-00000-of-00001.parquet` files (through the `datasets`
library, with the features of the published release), a README card and `media_data/` beside them. Every
media file is made here: Pillow images, ffmpeg lavfi audio and video, trimesh meshes. Among them are the
awkward cases the importer and the media pipeline must handle: an EXIF-rotated JPEG, RGBA, greyscale and
1-bit PNGs, HEVC, Theora, VP9 with alpha, a WebM without a duration, and T23D renders with a GLB, a PLY or
an OBJ (with its .mtl) beside them.

Tests do not assume which release they run on: facts (row counts, ids, model names) are read from the
parquet files, and the few roles a test needs ("the pair whose first response has a mesh", "the HEVC
video") are named in a `FixtureRelease`, for the generated release and for the shared real-world one.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import trimesh
from PIL import Image, ImageDraw

from annotations.demo import synth
from tests.fixture_release_rows import ROWS

PARQUET = "test-00000-of-00001.parquet"
MESH_EXTENSIONS = ("glb", "gltf", "obj", "ply", "stl")
# The task code of each config: the nine Omni-RewardBench tasks.
CONFIG_TASKS = {
    "text_to_text": "T2T",
    "text_image_to_text": "TI2T",
    "text_video_to_text": "TV2T",
    "text_audio_to_text": "TA2T",
    "text_to_image": "T2I",
    "text_to_video": "T2V",
    "text_to_audio": "T2A",
    "text_to_3D": "T23D",
    "text_image_to_image": "TI2I",
}

_S, _IMAGE, _AUDIO = datasets.Value("string"), datasets.Image(), datasets.Audio()
_TAIL = ["model1", "model2", "criteria", "criteria_preference", "id"]
_VIDEO_COLUMNS = {"text_video_to_text": ("video",), "text_to_video": ("response1", "response2")}


def _features(*columns: str) -> datasets.Features:
    """Columns in the published order; `name:image` / `name:audio` are media, everything else a string."""
    kinds = {"image": _IMAGE, "audio": _AUDIO}
    return datasets.Features({c.partition(":")[0]: kinds.get(c.partition(":")[2], _S) for c in columns})


# Column order and features exactly as in HongbangYuan/OmniRewardBench; video columns are path strings.
FEATURES: dict[str, datasets.Features] = {
    "text_to_text": _features("prompt", "response1", "response2", *_TAIL),
    "text_image_to_text": _features("prompt", "image:image", "response1", "response2", *_TAIL, "image_path"),
    "text_video_to_text": _features("prompt", "video", "response1", "response2", *_TAIL),
    "text_audio_to_text": _features("prompt", "audio:audio", "response1", "response2", *_TAIL, "audio_path"),
    "text_to_image": _features(
        "prompt", "response1:image", "response2:image", *_TAIL, "source", "response1_path", "response2_path"
    ),
    "text_to_video": _features("prompt", "response1", "response2", *_TAIL, "source"),
    "text_to_audio": _features(
        "prompt", "response1:audio", "response2:audio", *_TAIL, "source", "response1_path", "response2_path"
    ),
    "text_to_3D": _features("prompt", "response1:image", "response2:image", *_TAIL, "response1_path", "response2_path"),
    "text_image_to_image": _features(
        "prompt",
        "image:image",
        "response1:image",
        "response2:image",
        *_TAIL,
        "image_path",
        "response1_path",
        "response2_path",
    ),
}


@dataclass
class FixtureRelease:
    """A release on disk plus the roles tests ask for; every other fact is read from its files."""

    root: Path
    generated: bool
    media: Mapping[str, str]  # role -> path relative to media_data/
    pairs: Mapping[str, str]  # role -> pair id
    _rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def media_path(self, role: str) -> Path:
        return self.root / "media_data" / self.media[role]

    def rows(self, config: str) -> list[dict[str, Any]]:
        if config not in self._rows:
            self._rows[config] = pq.read_table(self.root / config / PARQUET).to_pylist()
        return self._rows[config]

    def row(self, pair_id: str) -> dict[str, Any]:
        return next(r for config in CONFIG_TASKS for r in self.rows(config) if r["id"] == pair_id)

    def ids(self, config: str) -> list[str]:
        return [r["id"] for r in self.rows(config)]

    @cached_property
    def task_rows(self) -> dict[str, int]:
        return {task: len(self.rows(config)) for config, task in CONFIG_TASKS.items()}

    @property
    def total(self) -> int:
        return sum(self.task_rows.values())

    @cached_property
    def model_names(self) -> set[str]:
        """Model names as the rows give them and as the media files are named after them."""
        names = {r[m] for config in CONFIG_TASKS for r in self.rows(config) for m in ("model1", "model2")}
        stems = {p.stem for p in (self.root / "media_data").rglob("*") if p.is_file()}
        return {n for n in names | stems if n}

    @cached_property
    def media_files(self) -> int:
        """Distinct media contents the rows use, meshes beside T23D renders included."""
        digests: set[str] = set()
        for config in CONFIG_TASKS:
            for row in self.rows(config):
                for column in ("image", "audio", "video", "response1", "response2"):
                    if (data := self._media_bytes(config, row, column)) is not None:
                        digests.add(hashlib.sha256(data).hexdigest())
                if config == "text_to_3D":
                    for n in (1, 2):
                        if (mesh := self.mesh_beside(row[f"response{n}_path"])) is not None:
                            digests.add(hashlib.sha256(mesh.read_bytes()).hexdigest())
        return len(digests)

    def mesh_beside(self, render: str) -> Path | None:
        """The mesh with the render's stem, as a T23D release ships it (first by MESH_EXTENSIONS order)."""
        stem = self.root / "media_data" / PurePosixPath(render).with_suffix("")
        found = [Path(f"{stem}.{ext}") for ext in MESH_EXTENSIONS if Path(f"{stem}.{ext}").is_file()]
        return found[0] if found else None

    def _media_bytes(self, config: str, row: dict[str, Any], column: str) -> bytes | None:
        if column not in media_columns(config):
            return None
        value = row[column]
        if isinstance(value, dict) and value.get("bytes"):
            return bytes(value["bytes"])
        path = row.get(f"{column}_path") or (value["path"] if isinstance(value, dict) else value)
        return (self.root / "media_data" / path).read_bytes()


def media_columns(config: str) -> tuple[str, ...]:
    """The columns that hold media: Image/Audio structs, and the video path strings."""
    embedded = [name for name, feature in FEATURES[config].items() if not isinstance(feature, datasets.Value)]
    return (*embedded, *_VIDEO_COLUMNS.get(config, ()))


# The shared real-world fixture (/work/shared/fixtures/omnirewardbench_mini, see its SOURCES.md).
SHARED_MEDIA = {
    "video_hevc": "text_to_video/t2v_p004/Open-Sora-1.2.mp4",
    "video_theora": "text_to_video/t2v_p004/Mochi-1.ogv",
    "video_vp9_alpha": "text_to_video/t2v_p005/Gen-3-Alpha.webm",
    "video_webm_no_duration": "text_to_video/t2v_p003/Pika-1.5.webm",
    "audio_flac": "text_audio_to_text/ta2t_0001.flac",
    "image_jpeg_exif6": "text_image_to_text/ti2t_0006.jpg",
    "image_png_rgba": "text_to_image/t2i_p003/kandinsky-3.png",
    "mesh_glb": "text_to_3D/t23d_p001/TRELLIS.glb",
    "mesh_ply": "text_to_3D/t23d_p002/InstantMesh.ply",
    "mesh_obj": "text_to_3D/t23d_p002/rabbit.obj",
}
SHARED_PAIRS = {
    "t23d_glb_then_render_only": "t23d_0001",  # TRELLIS render + GLB against a Shap-E render alone
    "t2v_browse": "t2v_0004",  # a WebM without a duration against an MP4
    "ti2i_shared_input": "ti2i_0001",  # hopper.png is the input of two pairs
}


def shared_release(root: Path) -> FixtureRelease:
    return FixtureRelease(root=root, generated=False, media=SHARED_MEDIA, pairs=SHARED_PAIRS)


# --- media ---------------------------------------------------------------------------------------


def _image(mode: str, look: str) -> Callable[[Path], None]:
    """A synth picture ("shape colour size background") saved in `mode`: RGB, RGBA, L or 1-bit."""
    shape, colour, size, background = look.split()

    def make(path: Path) -> None:
        synth.image(path, shape=shape, colour=colour, size=size, background=background, edge=160)
        if mode == "RGB":
            return
        with Image.open(path) as img:
            converted = img.convert(mode)
        if mode == "RGBA":  # a see-through corner, so transparency has something to keep
            alpha = Image.new("L", converted.size, 255)
            ImageDraw.Draw(alpha).rectangle((0, 0, 60, 60), fill=0)
            converted.putalpha(alpha)
        converted.save(path, "PNG" if path.suffix == ".png" else "JPEG")

    return make


def _jpeg_exif6(path: Path) -> None:
    """Pixels stored on their side with EXIF Orientation=6, in a picture that shows which way is up."""
    img = Image.new("RGB", (160, 160), (30, 30, 30))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 80, 50), fill=(220, 40, 40))
    draw.ellipse((100, 100, 155, 155), fill=(40, 180, 90))
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=90, exif=exif)


_REALTIME = ["-deadline", "realtime", "-cpu-used", "8"]  # libvpx's default "good" takes seconds
_VP9 = ["-c:v", "libvpx-vp9", *_REALTIME, "-b:v", "200k", "-c:a", "libopus"]
_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-movflags", "+faststart"]
_HEVC = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac"]
_VP8 = ["-c:v", "libvpx", *_REALTIME, "-b:v", "200k", "-c:a", "libvorbis"]
_THEORA = ["-c:v", "libtheora", "-q:v", "5", "-c:a", "libvorbis"]


def _video(codec: list[str], source: str, *, tone: int = 440, pix_fmt: str = "yuv420p") -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        synth.lavfi(
            path,
            [f"{source}=size=160x120:rate=12", f"sine=frequency={tone}:sample_rate=48000"],
            ["-t", "1", *codec, "-pix_fmt", pix_fmt, "-shortest"],
        )

    return make


def _webm_without_duration(path: Path) -> None:
    """Written to a pipe, the muxer cannot seek back to write a duration: ffprobe says N/A.

    The sources end by themselves (`duration=`) rather than by `-t`, or ffmpeg writes the duration it
    was told up front.
    """
    sources = ["testsrc2=size=160x120:rate=12:duration=1", "sine=frequency=660:sample_rate=48000:duration=1"]
    cmd = [synth.require_ffmpeg(), "-loglevel", "error", *[a for s in sources for a in ("-f", "lavfi", "-i", s)]]
    cmd += ["-c:v", "libvpx", *_REALTIME, "-b:v", "200k", "-c:a", "libopus", "-f", "webm", "pipe:1"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise synth.SynthError(f"ffmpeg failed making {path}: {done.stderr.decode()[-500:]}")


def _audio(sound: str) -> Callable[[Path], None]:
    return lambda path: synth.audio(path, sound=sound, seconds=1)


def _mesh(shape: str, colour: str) -> Callable[[Path], None]:
    return lambda path: synth.mesh(path, shape=shape, colour=colour)


def _obj_with_mtl(path: Path) -> None:
    """An icosphere as OBJ whose material sits in a .mtl of the same stem beside it."""
    body = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    material = trimesh.visual.material.SimpleMaterial(diffuse=[200, 120, 40, 255], name="clay")
    body.visual = trimesh.visual.TextureVisuals(material=material)
    text, files = trimesh.exchange.obj.export_obj(body, mtl_name=f"{path.stem}.mtl", return_texture=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    for name, data in files.items():
        (path.parent / name).write_bytes(data)


# Every media file, relative to media_data/, and how it is made.
MEDIA: dict[str, Callable[[Path], None]] = {
    "text_image_to_text/ti2t_0001.jpg": _jpeg_exif6,
    "text_image_to_text/ti2t_0002.png": _image("RGBA", "circle red large white"),
    "text_image_to_text/ti2t_0003.png": _image("L", "square blue small yellow"),
    "text_image_to_text/ti2t_0004.png": _image("1", "triangle black large white"),
    "text_video_to_text/tv2t_0001.mp4": lambda path: synth.video(path, pattern="test pattern", seconds=1),
    "text_video_to_text/tv2t_0003.webm": _video(_VP8, "mandelbrot", tone=330),
    "text_video_to_text/tv2t_0004.mp4": _video(_H264, "smptebars", tone=550),
    "text_audio_to_text/ta2t_0001.flac": _audio("chirp"),
    "text_audio_to_text/ta2t_0002.wav": _audio("high beep"),
    "text_audio_to_text/ta2t_0003.mp3": _audio("rain-like noise"),
    "text_audio_to_text/ta2t_0004.ogg": _audio("low hum"),
    "text_to_image/t2i_p001/FLUX.1-dev.jpg": _image("RGB", "circle red large white"),
    "text_to_image/t2i_p001/sdxl-base-1.0.jpg": _image("RGB", "circle red small blue"),
    "text_to_image/t2i_p002/dall-e-3.png": _image("RGBA", "square green large black"),
    "text_to_image/t2i_p002/stable-diffusion-v1-5.png": _image("RGB", "triangle green small white"),
    "text_to_image/t2i_p003/kandinsky-3.png": _image("L", "circle white large black"),
    "text_to_image/t2i_p003/midjourney-v6.jpg": _jpeg_exif6,
    "text_to_video/t2v_p001/CogVideoX-5B.webm": _video(_VP9, "testsrc2"),
    "text_to_video/t2v_p001/HunyuanVideo.mp4": _video(_H264, "smptebars", tone=220),
    "text_to_video/t2v_p002/Kling-1.6.mp4": _video(_HEVC, "mandelbrot", tone=220),
    # A moving source: libtheora encodes a still picture (smptebars) as one frame.
    "text_to_video/t2v_p002/Mochi-1.ogv": _video(_THEORA, "mandelbrot", tone=880),
    "text_to_video/t2v_p003/Pika-1.5.webm": _webm_without_duration,
    "text_to_video/t2v_p003/Gen-3-Alpha.webm": _video(_VP9, "testsrc2", tone=330, pix_fmt="yuva420p"),
    "text_to_audio/t2a_p001/AudioLDM2-large.ogg": _audio("rain-like noise"),
    "text_to_audio/t2a_p001/Tango-2.mp3": _audio("low hum"),
    "text_to_audio/t2a_p002/Stable-Audio-Open-1.0.wav": _audio("chirp"),
    "text_to_audio/t2a_p002/MusicGen-large.flac": _audio("high beep"),
    "text_to_3D/t23d_p001/TRELLIS.png": _image("RGB", "square red large white"),
    "text_to_3D/t23d_p001/TRELLIS.glb": _mesh("cube", "red"),
    "text_to_3D/t23d_p001/Shap-E.png": _image("RGB", "square red small white"),
    "text_to_3D/t23d_p002/InstantMesh.png": _image("RGB", "circle blue large white"),
    "text_to_3D/t23d_p002/InstantMesh.ply": _mesh("sphere", "blue"),
    "text_to_3D/t23d_p002/LGM.png": _image("RGB", "circle yellow large black"),
    "text_to_3D/t23d_p002/LGM.obj": _obj_with_mtl,
    "text_to_3D/t23d_p003/TripoSR.png": _image("RGB", "triangle green large white"),
    "text_to_3D/t23d_p003/TripoSR.glb": _mesh("cone", "green"),
    "text_to_3D/t23d_p003/DreamFusion.png": _image("RGB", "triangle green small black"),
    "text_image_to_image/ti2i_p001/input.png": _image("RGB", "circle blue large white"),
    "text_image_to_image/ti2i_p001/InstructPix2Pix.jpg": _image("L", "circle blue large white"),
    "text_image_to_image/ti2i_p001/MagicBrush.png": _image("1", "circle black large white"),
    "text_image_to_image/ti2i_p002/input.jpg": _jpeg_exif6,
    "text_image_to_image/ti2i_p002/UltraEdit.jpg": _image("RGB", "square red small black"),
    "text_image_to_image/ti2i_p002/OmniGen.png": _image("RGBA", "square red large black"),
}

GENERATED_MEDIA = {
    "video_hevc": "text_to_video/t2v_p002/Kling-1.6.mp4",
    "video_theora": "text_to_video/t2v_p002/Mochi-1.ogv",
    "video_vp9_alpha": "text_to_video/t2v_p003/Gen-3-Alpha.webm",
    "video_webm_no_duration": "text_to_video/t2v_p003/Pika-1.5.webm",
    "audio_flac": "text_audio_to_text/ta2t_0001.flac",
    "image_jpeg_exif6": "text_image_to_text/ti2t_0001.jpg",
    "image_png_rgba": "text_to_image/t2i_p002/dall-e-3.png",
    "mesh_glb": "text_to_3D/t23d_p001/TRELLIS.glb",
    "mesh_ply": "text_to_3D/t23d_p002/InstantMesh.ply",
    "mesh_obj": "text_to_3D/t23d_p002/LGM.obj",
}
GENERATED_PAIRS = {
    "t23d_glb_then_render_only": "t23d_0001",
    "t2v_browse": "t2v_0004",  # the WebM without a duration against VP9 with alpha
    "ti2i_shared_input": "ti2i_0001",
}


# --- writing -------------------------------------------------------------------------------------


def release_write(folder: Path) -> FixtureRelease:
    """Write the generated release into `folder` (created if needed) and describe it."""
    media_root = folder / "media_data"
    # Each maker is one short single-threaded ffmpeg/Pillow/trimesh run: two at a time halves the wait.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(make, media_root / relative) for relative, make in MEDIA.items()]:
            future.result()
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per config would bury the test output
    try:
        _write_configs(folder, media_root)
    finally:
        if bars:
            datasets.enable_progress_bars()
    (folder / "README.md").write_text(_card())
    return FixtureRelease(root=folder, generated=True, media=GENERATED_MEDIA, pairs=GENERATED_PAIRS)


def _write_configs(folder: Path, media_root: Path) -> None:
    for config, rows in ROWS.items():
        features = FEATURES[config]
        # The media are already encoded files, so the Arrow storage ({bytes, path}) is built as is: going
        # through Features.encode_example would need torchcodec for Audio and decode nothing we need.
        table = pa.Table.from_pylist([_record(row, features, media_root) for row in rows], schema=features.arrow_schema)
        dataset = datasets.Dataset(table, info=datasets.DatasetInfo(features=features))
        (folder / config).mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(folder / config / PARQUET))


def _record(row: dict[str, Any], features: datasets.Features, media_root: Path) -> dict[str, Any]:
    """A row in column order, media embedded as the published release embeds them: bytes plus file name."""
    record: dict[str, Any] = {}
    for name, feature in features.items():
        if isinstance(feature, datasets.Value):
            record[name] = row[name]
        else:
            relative = row[f"{name}_path"]
            record[name] = {"bytes": (media_root / relative).read_bytes(), "path": PurePosixPath(relative).name}
    return record


def _card() -> str:
    """The README a Hub dataset carries: its YAML maps each config to its parquet file."""
    lines = ["---", "license: other", "pretty_name: OmniRewardBench generated test release", "dataset_info:"]
    for config, features in FEATURES.items():
        lines += [f"- config_name: {config}", "  features:"]
        for name, feature in features.items():
            dtype = "string" if isinstance(feature, datasets.Value) else type(feature).__name__.lower()
            lines += [f"  - name: {name}", f"    dtype: {dtype}"]
        lines += ["  splits:", "  - name: test", f"    num_examples: {len(ROWS[config])}"]
    lines.append("configs:")
    for config in FEATURES:
        lines += [f"- config_name: {config}", "  data_files:", "  - split: test", f"    path: {config}/test-*"]
    body = (
        "# OmniRewardBench generated test release\n\n"
        "Written by tests/fixture_release.py for the test suite: every medium was made on the machine that ran "
        "the tests (Pillow, ffmpeg lavfi, trimesh). Model names are labels only; no model made anything here.\n"
    )
    return "\n".join([*lines, "---", "", body])
