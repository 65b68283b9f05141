"""Real ffmpeg, Pillow and trimesh on the fixture release's media, on generated media and on broken files.

The fixture release is the shared real-world one when present, else the generated one; both name a file
for each awkward case (HEVC, Theora, VP9 with alpha, a WebM without a duration, EXIF rotation, ...).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from media_pipeline.models import MESH_VIEW_NAMES
from media_pipeline.processing import (
    FRAMES,
    IMAGE_BOX,
    MAX_IMAGE_PIXELS,
    VIDEO_BOX,
    VIDEO_FPS,
    MediaError,
    ffprobe,
    process,
)
from tests.fixture_release import FixtureRelease


@pytest.fixture
def media(fixture_release: FixtureRelease):
    """The fixture release's file for a case, by role (see tests/fixture_release.py)."""
    return fixture_release.media_path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def loudness(path: Path) -> float:
    """Integrated loudness in LUFS, measured by ffmpeg's EBU R128 meter."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr)[-1])


def _outputs(result):
    return {(o.role, o.index): o for o in result.outputs}


@pytest.mark.parametrize(
    "role",
    [
        "video_hevc",  # HEVC + AAC
        "video_theora",  # Theora + Vorbis
        "video_vp9_alpha",  # VP9 with alpha
        "video_webm_no_duration",  # WebM with no duration in the container
    ],
)
def test_video_becomes_faststart_h264_in_the_box_at_30fps_with_poster_and_frames(role, media, tmp_path):
    result = process("video", media(role), tmp_path)
    outputs = _outputs(result)
    web = outputs[("web", 0)].path
    probe = ffprobe(web)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert video["fps"] == VIDEO_FPS
    assert video["width"] <= VIDEO_BOX[0] and video["height"] <= VIDEO_BOX[1]
    assert video["width"] == VIDEO_BOX[0] or video["height"] == VIDEO_BOX[1]  # fitted to the box, up or down
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    assert all(s["codec_name"] == "aac" for s in audio)
    head = web.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # faststart: seekable before it has all loaded
    frames = [outputs[("frame", i)] for i in range(FRAMES)]
    assert FRAMES == 10 and ("frame", FRAMES) not in outputs  # the paper's 10 frames for TV2T (5 of them for T2V)
    assert all(Image.open(f.path).format == "JPEG" for f in frames)
    assert ("poster", 0) in outputs
    assert abs(probe["duration"] - result.probe["duration"]) < 0.5


def test_two_videos_of_different_size_and_rate_come_out_alike(tmp_path):
    small, large = tmp_path / "small.mp4", tmp_path / "large.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=8", "-t", "2", "-pix_fmt", "yuv420p", str(small))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=60", "-t", "2", "-c:v", "libx264", str(large))
    shapes = []
    for source in (small, large):
        out = tmp_path / source.stem
        out.mkdir()
        web = _outputs(process("video", source, out))[("web", 0)].path
        video = next(s for s in ffprobe(web)["streams"] if s["codec_type"] == "video")
        shapes.append((video["height"], video["fps"]))
    assert shapes == [(720, 30), (720, 30)]


def test_audio_reaches_the_loudness_target_whatever_it_started_at(tmp_path):
    measured = []
    for name, volume in (("quiet", "0.02"), ("loud", "0.9")):
        source = tmp_path / f"{name}.wav"
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-af", f"volume={volume}", str(source))
        out = tmp_path / name
        out.mkdir()
        outputs = _outputs(process("audio", source, out))
        assert ffprobe(outputs[("web", 0)].path)["streams"][0]["codec_name"] == "aac"
        measured.append(loudness(outputs[("web", 0)].path))
        peaks = json.loads(outputs[("peaks", 0)].path.read_text())
        assert abs(peaks["duration"] - 6) < 0.1 and len(peaks["peaks"]) == 1024
        assert all(0 <= p <= 1 for p in peaks["peaks"])
    assert all(abs(lufs - -23) < 1.5 for lufs in measured), measured


def test_flac_audio_is_converted_with_peaks(media, tmp_path):
    outputs = _outputs(process("audio", media("audio_flac"), tmp_path))
    assert abs(loudness(outputs[("web", 0)].path) - -23) < 1.5
    assert max(json.loads(outputs[("peaks", 0)].path.read_text())["peaks"]) > 0.05


def test_exif_rotation_is_applied_and_metadata_dropped(media, tmp_path):
    source = media("image_jpeg_exif6")  # EXIF Orientation 6
    with Image.open(source) as original:
        assert original.getexif().get(0x0112) == 6
        rotated = Image.open(source).transpose(Image.Transpose.ROTATE_270)
    outputs = _outputs(process("image", source, tmp_path))
    with Image.open(outputs[("web", 0)].path) as web:
        assert web.format == "WEBP" and web.size == IMAGE_BOX
        assert not web.getexif() and "exif" not in web.info and "icc_profile" not in web.info
        # The upper-left corner of the upright picture is where it should be, not rotated.
        expected = np.asarray(rotated.convert("RGB").resize((8, 8)), dtype=float)
        got = np.asarray(web.convert("RGB").resize((8, 8)), dtype=float)
        assert np.abs(expected - got).mean() < 20


def test_png_keeps_transparency_and_loses_its_text_chunks(media, tmp_path):
    source = tmp_path / "with-text.png"
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "model: secret-diffusion-xl")
    Image.open(media("image_png_rgba")).save(source, pnginfo=info)
    outputs = _outputs(process("image", source, tmp_path))
    web = outputs[("web", 0)].path
    assert b"secret-diffusion" not in web.read_bytes()
    with Image.open(web) as image:
        assert image.mode == "RGBA" and image.getextrema()[3][0] < 255
    assert Image.open(outputs[("thumb", 0)].path).size[0] <= 256


@pytest.mark.parametrize("role", ["mesh_glb", "mesh_ply", "mesh_obj"])
def test_meshes_become_centred_unit_glb_with_a_thumbnail(role, media, tmp_path):
    outputs = _outputs(process("mesh", media(role), tmp_path))
    scene = trimesh.load_scene(str(outputs[("web", 0)].path))
    bounds = np.asarray(scene.bounds)
    assert np.allclose((bounds[0] + bounds[1]) / 2, 0, atol=1e-4)
    assert abs((bounds[1] - bounds[0]).max() - 1) < 1e-4
    thumb = np.asarray(Image.open(outputs[("thumb", 0)].path).convert("L"))
    assert thumb.std() > 10  # something was drawn, not a blank square


def _silhouette(path: Path) -> tuple[int, int, np.ndarray]:
    """Width and height in pixels of what was drawn over the background, and the drawn pixels."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    drawn = np.abs(pixels - np.array([246, 246, 248])).sum(axis=2) > 12
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    return int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1), pixels[drawn]


def test_meshes_are_rendered_from_four_fixed_cameras_in_their_own_colours(tmp_path):
    """A red slab (wide, tall, thin): seen wide from the front and back, thin from the side, thin from the top."""
    slab = trimesh.creation.box(extents=(1.0, 0.6, 0.15))
    slab.visual.face_colors = (200, 30, 30, 255)
    source = tmp_path / "slab.glb"
    source.write_bytes(slab.export(file_type="glb"))
    (tmp_path / "out").mkdir()
    outputs = _outputs(process("mesh", source, tmp_path / "out"))
    views = {name: outputs[("view", i)] for i, name in enumerate(MESH_VIEW_NAMES)}
    assert all((v.width, v.height, v.content_type) == (512, 512, "image/webp") for v in views.values())
    size = {name: _silhouette(v.path) for name, v in views.items()}
    front_w, front_h, front_pixels = size["front"]
    assert front_w > 350 and size["back"][0] > 350  # the slab's full width, seen face on
    assert size["side"][0] < front_w / 3  # its thickness, seen edge on
    assert size["top"][1] < front_h / 2  # from above: width by thickness
    red, green, blue = front_pixels.mean(axis=0)
    assert red > 2 * green and red > 2 * blue  # its own colour, shaded

    plain = tmp_path / "plain.stl"
    trimesh.creation.icosphere().export(plain)
    (tmp_path / "plain").mkdir()
    outputs = _outputs(process("mesh", plain, tmp_path / "plain"))
    *_, pixels = _silhouette(outputs[("view", 0)].path)
    spread = pixels.max(axis=1) - pixels.min(axis=1)
    assert spread.mean() < 12  # no colours of its own: neutral grey


def test_stl_is_read_too(tmp_path):
    source = tmp_path / "box.stl"
    trimesh.creation.box(extents=(2, 4, 8)).export(source)
    outputs = _outputs(process("mesh", source, tmp_path))
    assert trimesh.load_scene(str(outputs[("web", 0)].path)).extents.max() == pytest.approx(1)


# --- broken files: each ends in a message a curator can act on ---------------------------------


def test_truncated_mp4_fails_with_a_message(tmp_path):
    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", "3", "-pix_fmt", "yuv420p", str(whole))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(MediaError, match=r"ffprobe cannot read|no duration|no video|could not read"):
        process("video", broken, tmp_path)


def test_wav_with_a_bad_header_fails(tmp_path):
    source = tmp_path / "bad.wav"
    source.write_bytes(b"RIFF\xff\xff\xff\xffWAVEfmt \x02\x00\x00\x00" + b"\x00" * 4000)
    with pytest.raises(MediaError):
        process("audio", source, tmp_path)


@pytest.mark.parametrize(
    ("name", "content"), [("notes.obj", b"this is not a mesh\n"), ("junk.ply", b"ply\nformat nonsense\n")]
)
def test_a_mesh_that_is_not_a_mesh_fails(name, content, tmp_path):
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(MediaError, match=r"mesh|triangles"):
        process("mesh", source, tmp_path)


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming a huge size, with a tiny compressed body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IEND", b"")


def test_a_bomb_sized_image_is_refused_before_decoding(tmp_path):
    source = tmp_path / "bomb.png"
    source.write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(MediaError, match=f"more than the {MAX_IMAGE_PIXELS:,} pixels"):
        process("image", source, tmp_path)


def test_an_image_that_is_not_an_image_fails(tmp_path):
    source = tmp_path / "x.jpg"
    source.write_bytes(b"GIF? no, nothing at all")
    with pytest.raises(MediaError, match="cannot be decoded"):
        process("image", source, tmp_path)


# --- nothing in a rendition may name the model ---------------------------------------------------


def test_tags_in_video_and_audio_are_left_behind(tmp_path):
    video, audio = tmp_path / "tagged.mp4", tmp_path / "tagged.mp3"
    tags = ["-metadata", "title=Made by SecretVideoModel", "-metadata", "comment=SecretVideoModel v2"]
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-f", "lavfi", "-i", "sine", "-t", "2", *tags, str(video)
    )
    ffmpeg("-f", "lavfi", "-i", "sine", "-t", "2", "-metadata", "artist=SecretAudioModel", str(audio))
    for kind, source in (("video", video), ("audio", audio)):
        out = tmp_path / kind
        out.mkdir()
        for output in process(kind, source, out).outputs:
            assert b"Secret" not in output.path.read_bytes(), (kind, output.role)


def test_mesh_names_are_replaced_and_outside_files_are_not_pulled_in(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(secret / "private.png")
    (secret / "x.mtl").write_text("newmtl SecretMaterial\nmap_Kd private.png\n")
    box = trimesh.creation.box()
    lines = ["mtllib ../secret/x.mtl", "o SecretModel3D_output", "usemtl SecretMaterial"]
    lines += [f"v {x} {y} {z}" for x, y, z in box.vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in box.faces]
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    source = meshes / "model.obj"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    glb = _outputs(process("mesh", source, out))[("web", 0)].path.read_bytes()
    assert b"Secret" not in glb
    assert b"\x89PNG" not in glb  # the texture outside the upload was not read


def test_a_gltf_that_needs_other_files_fails_with_a_message(tmp_path):
    source = tmp_path / "scene.gltf"
    source.write_text(
        '{"asset": {"version": "2.0"}, "buffers": [{"uri": "/etc/passwd", "byteLength": 36}], "meshes": []}'
    )
    with pytest.raises(MediaError, match=r"refers to another file|not a readable GLTF"):
        process("mesh", source, tmp_path)


def test_non_square_pixels_are_shown_at_their_display_aspect(tmp_path):
    source = tmp_path / "anamorphic.mp4"  # stored 320x360 with 2:1 pixels: shown as 640x360, 16:9
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x360:rate=10", "-vf", "setsar=2/1", "-t", "2", "-c:v", "libx264",
           str(source))  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    web = _outputs(process("video", source, out))[("web", 0)].path
    video = next(s for s in ffprobe(web)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1280, 720)
