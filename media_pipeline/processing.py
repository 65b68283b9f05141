"""Turn one original file into browser-ready renditions, on local disk, with no database access.

Every kind is brought to one presentation target, so the two sides of a pair look and sound alike
whichever model made them (3D Arena measured presentation differences moving Elo by +144):

- video: H.264/AAC MP4 with faststart, fitted into a 1280x720 box at 30 frames/s, sound at the
  EBU R128 target; evenly sampled JPEG frames (what model judges receive); the first is the poster;
- audio: AAC at the EBU R128 target (-23 LUFS integrated, -1 dBTP) plus waveform peaks as JSON,
  so the waveform draws before the audio has loaded;
- image: WebP fitted into a 1024x1024 box plus a 256 px thumbnail, orientation applied from EXIF
  and all metadata (EXIF, text chunks, ICC) left behind;
- 3D: GLB centred at the origin with its largest extent 1, plus a rendered thumbnail and four views
  (front, side, back, top) from the same camera positions for every mesh: what an annotator without
  WebGL sees, and what model judges receive.

Problems with the file itself raise MediaError with a sentence for the curator; anything else
(a missing ffmpeg, a full disk) propagates and is retried.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageOps, UnidentifiedImageError

VIDEO_BOX = (1280, 720)
VIDEO_FPS = 30
VIDEO_CRF = 23
FRAMES = 10  # the paper sends 10 frames for TV2T and 5 per response (every other) for T2V
FRAME_BOX = (768, 768)
LOUDNESS = "loudnorm=I=-23:TP=-1:LRA=11"  # EBU R128
AUDIO_RATE = 48_000
AUDIO_BITRATE = "128k"
PEAK_BUCKETS = 1024
PEAK_RATE = 8_000
IMAGE_BOX = (1024, 1024)
THUMB_BOX = (256, 256)
MAX_IMAGE_PIXELS = 80_000_000  # larger images are refused before they are decoded
MAX_MESH_FACES = 2_000_000
MAX_MESH_BYTES = 512 * 2**20
# Camera (yaw, pitch up from the horizon, in degrees) per view of models.MESH_VIEW_NAMES: the same
# cameras for every mesh, so two responses' views compare.
MESH_CAMERAS = {"front": (0.0, 15.0), "side": (90.0, 15.0), "back": (180.0, 15.0), "top": (0.0, 90.0)}
MESH_VIEW_SIZE = 512
NEUTRAL_MESH_COLOUR = (200, 200, 206)  # meshes with no colours of their own
MAX_DURATION_S = 2 * 3600  # longer video or audio is refused (a benchmark clip is seconds to minutes)
FFMPEG_TIMEOUT_S = 30 * 60


class MediaError(Exception):
    """The file cannot be made browser-ready; the message is shown to curators as it is."""


@dataclass(frozen=True)
class Output:
    role: str
    path: Path
    content_type: str
    index: int = 0
    width: int | None = None
    height: int | None = None


@dataclass
class Result:
    probe: dict[str, Any]
    outputs: list[Output] = field(default_factory=list)


def process(kind: str, source: Path, workdir: Path) -> Result:
    handlers = {"video": _video, "audio": _audio, "image": _image, "mesh": _mesh}
    if kind not in handlers:
        raise MediaError(f"Unknown media kind {kind!r}.")
    return handlers[kind](source, workdir)


# --- ffmpeg -------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (scripts/install.sh installs it)")
    return path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a local file: the content address assets are stored and released under."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def run_ffmpeg(args: list[str], what: str) -> None:
    """Run ffmpeg for at most FFMPEG_TIMEOUT_S; a failure is the file's fault (MediaError)."""
    cmd = [_tool("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
    began = time.monotonic()
    while True:
        try:
            _, stderr = proc.communicate(timeout=1)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() - began > FFMPEG_TIMEOUT_S:
                proc.kill()
                proc.communicate()
                raise MediaError(f"{what} took longer than {FFMPEG_TIMEOUT_S // 60} minutes and was stopped.") from None
    if proc.returncode != 0:
        detail = _last_lines(stderr.decode(errors="replace"))
        raise MediaError(f"{what} failed: ffmpeg could not read or convert the file ({detail}).")


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, ffmpeg gets SIGKILL if the worker that started it dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_WORK_PATH = re.compile(r"\S*/omni-media-[^/\s]+/(?:out/)?")


def scrub(text: str) -> str:
    """`text` without the job's temporary paths (they mean nothing to a curator)."""
    return _WORK_PATH.sub("", text)


def _last_lines(text: str, n: int = 2) -> str:
    """The end of a tool's error output, without the job's temporary paths."""
    text = scrub(text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "; ".join(lines[-n:])[:300] or "no message"


def _probe_json(source: Path, *show: str) -> dict[str, Any]:
    """What ffprobe prints as JSON for these -show options; MediaError if it cannot read the file."""
    cmd = [_tool("ffprobe"), "-v", "error", "-print_format", "json", *show, str(source)]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError("ffprobe took more than 2 minutes to read the file; it is probably damaged.") from None
    if done.returncode != 0:
        raise MediaError(f"ffprobe cannot read the file: {_last_lines(done.stderr.decode(errors='replace'))}.")
    try:
        raw = json.loads(done.stdout or b"{}")
    except json.JSONDecodeError:
        raise MediaError("ffprobe could not describe the file.") from None
    return raw if isinstance(raw, dict) else {}


def ffprobe(source: Path) -> dict[str, Any]:
    """Container and stream facts as ffprobe reports them; MediaError if it cannot read the file."""
    raw = _probe_json(source, "-show_format", "-show_streams")
    fmt = raw.get("format", {})
    streams = []
    for stream in raw.get("streams", []):
        entry = {
            key: stream[key]
            for key in ("codec_type", "codec_name", "width", "height", "sample_rate", "channels", "pix_fmt")
            if key in stream
        }
        if stream.get("codec_type") == "video":
            entry["fps"] = _rate(stream.get("avg_frame_rate") or stream.get("r_frame_rate"))
        streams.append(entry)
    duration = _float(fmt.get("duration"))
    if duration is None and streams and fmt.get("format_name") not in _IMAGE_FORMATS:
        duration = _packet_duration(source)  # some containers (WebM written live) carry no duration
    return {
        "format": fmt.get("format_name", ""),
        "duration": duration,
        "size": int(fmt.get("size", 0) or 0),
        "bit_rate": int(fmt.get("bit_rate", 0) or 0),
        "streams": streams,
    }


_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe"}


def container_duration(source: Path) -> float | None:
    """The duration the container itself declares, or None when it declares none.

    `ffprobe` above falls back to packet timestamps, which is right for our own transcode; readers
    that seek by the container's duration (decord, which the paper's evaluation uses) cannot, so a
    release checks this value instead.
    """
    duration = _float(_probe_json(source, "-show_entries", "format=duration").get("format", {}).get("duration"))
    return duration if duration and duration > 0 else None


# The muxer per extension of an accepted video (EXTENSIONS[VIDEO]): ffmpeg would guess a raw
# elementary stream for `.m4v`, and `.ogv` is plain Ogg.
REMUX_FORMATS = {
    "mp4": "mp4",
    "m4v": "mp4",
    "mov": "mov",
    "webm": "webm",
    "mkv": "matroska",
    "ogv": "ogg",
    "ogg": "ogg",
    "avi": "avi",
}


def remux_copy(source: Path, dest: Path, extension: str) -> None:
    """Rewrite a video's container without touching its streams (`-c copy`: lossless).

    Written to a seekable file, the muxer records the duration that a live-written original lacks.
    Tags stay as they were (the original ships unchanged otherwise); `+bitexact` leaves out the
    muxer's version and random ids, so the same original always remuxes to the same bytes.
    """
    muxer = REMUX_FORMATS.get(extension)
    if muxer is None:
        raise MediaError(f"A .{extension} video cannot be remuxed here.")
    args = ["-i", str(source), "-map", "0", "-c", "copy", "-fflags", "+bitexact", "-flags", "+bitexact"]
    run_ffmpeg([*args, "-f", muxer, str(dest)], "Remuxing the video")


def _packet_duration(source: Path) -> float | None:
    """The end of the last packet, read from packet timestamps (no decoding)."""
    cmd = [
        _tool("ffprobe"),
        "-v",
        "error",
        "-show_entries",
        "packet=pts_time,duration_time",
        "-of",
        "csv=p=0",
        str(source),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return None
    end = 0.0
    for line in done.stdout.decode(errors="replace").splitlines():
        parts = [_float(v) for v in line.split(",")[:2]]
        if parts and parts[0] is not None:
            end = max(end, parts[0] + (parts[1] or 0.0) if len(parts) > 1 else parts[0])
    return end or None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rate(value: str | None) -> float | None:
    if not value or "/" not in value:
        return _float(value)
    num, den = value.split("/", 1)
    top, bottom = _float(num), _float(den)
    return round(top / bottom, 3) if top is not None and bottom else None


def _checked_duration(probe: dict[str, Any], what: str) -> float:
    duration = probe.get("duration") or 0.0
    if duration <= 0:
        raise MediaError(f"The {what} has no duration: it is empty or truncated.")
    if duration > MAX_DURATION_S:
        raise MediaError(
            f"The {what} lasts {duration / 60:,.0f} minutes, more than the {MAX_DURATION_S // 60} allowed."
        )
    return float(duration)


def _first(probe: dict[str, Any], codec_type: str) -> dict[str, Any] | None:
    return next((s for s in probe["streams"] if s.get("codec_type") == codec_type), None)


def _fit(width: int, height: int, box: tuple[int, int], *, even: bool = False) -> tuple[int, int]:
    """Scale (width, height) up or down to fit the box, keeping the aspect ratio."""
    scale = min(box[0] / width, box[1] / height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    if even:
        w, h = max(2, w - w % 2), max(2, h - h % 2)
    return w, h


# Every output leaves the original's tags behind (a title or encoder tag can name the model).
_NO_METADATA = ["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact"]


# --- video --------------------------------------------------------------------------------------


def video_commands(source: Path, workdir: Path, probe: dict[str, Any]) -> list[list[str]]:
    """The ffmpeg arguments that make a video's renditions (one decode, two outputs)."""
    stream = _first(probe, "video")
    if stream is None or not stream.get("width") or not stream.get("height"):
        raise MediaError("The file has no video stream.")
    duration = _checked_duration(probe, "video")
    # ffmpeg applies the stream's rotation before the graph; square the pixels, then fit the box
    # (up or down) keeping the aspect ratio.
    fit = "force_original_aspect_ratio=decrease:force_divisible_by=2:flags=lanczos"
    square = "scale='trunc(iw*sar/2)*2':'trunc(ih/2)*2',setsar=1"
    graph = (
        f"[0:v:0]fps={VIDEO_FPS},{square},scale={VIDEO_BOX[0]}:{VIDEO_BOX[1]}:{fit},setsar=1,format=yuv420p,"
        f"split=2[web][sample];"
        f"[sample]fps={FRAMES}/{duration:.6f},scale={FRAME_BOX[0]}:{FRAME_BOX[1]}:{fit}[frames]"
    )
    args = ["-i", str(source), "-filter_complex", graph, "-map", "[web]"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(VIDEO_CRF), "-profile:v", "high"]
    if _first(probe, "audio") is not None:
        args += ["-map", "0:a:0", "-af", LOUDNESS, "-ar", str(AUDIO_RATE), "-ac", "2", "-c:a", "aac"]
        args += ["-b:a", AUDIO_BITRATE]
    args += [*_NO_METADATA, "-movflags", "+faststart", str(workdir / "web.mp4")]
    args += ["-map", "[frames]", "-frames:v", str(FRAMES), "-q:v", "3", *_NO_METADATA, str(workdir / "frame-%02d.jpg")]
    return [args]


def _video(source: Path, workdir: Path) -> Result:
    probe = ffprobe(source)
    for args in video_commands(source, workdir, probe):
        run_ffmpeg(args, "Converting the video")
    web = workdir / "web.mp4"
    frames = sorted(workdir.glob("frame-*.jpg"))
    if not web.exists() or not frames:
        raise MediaError("The video decoded to no frames: it is empty or truncated.")
    frame_size = Image.open(frames[0]).size
    # The frames have the video's display aspect, so its size follows from theirs (to within the
    # 2-pixel rounding ffmpeg applies), without starting ffprobe again.
    size = _fit(*frame_size, VIDEO_BOX, even=True)
    result = Result(probe=probe)
    result.outputs.append(Output("web", web, "video/mp4", width=size[0], height=size[1]))
    poster = workdir / "poster.jpg"
    shutil.copyfile(frames[0], poster)
    result.outputs.append(Output("poster", poster, "image/jpeg", width=frame_size[0], height=frame_size[1]))
    for index, frame in enumerate(frames):
        result.outputs.append(
            Output("frame", frame, "image/jpeg", index=index, width=frame_size[0], height=frame_size[1])
        )
    return result


# --- audio --------------------------------------------------------------------------------------


def audio_commands(source: Path, workdir: Path, probe: dict[str, Any]) -> list[list[str]]:
    if _first(probe, "audio") is None:
        raise MediaError("The file has no audio stream.")
    _checked_duration(probe, "audio")
    graph = f"[0:a:0]{LOUDNESS},aresample={AUDIO_RATE},asplit=2[web][peaks]"
    args = ["-i", str(source), "-filter_complex", graph]
    args += [
        "-map",
        "[web]",
        "-ac",
        "2",
        "-c:a",
        "aac",
        "-b:a",
        AUDIO_BITRATE,
        *_NO_METADATA,
        "-movflags",
        "+faststart",
    ]
    args += [str(workdir / "web.m4a")]
    args += ["-map", "[peaks]", "-ac", "1", "-ar", str(PEAK_RATE), "-f", "f32le", str(workdir / "peaks.f32")]
    return [args]


def waveform_peaks(samples: np.ndarray, buckets: int = PEAK_BUCKETS) -> list[float]:
    """The loudest |sample| in each of `buckets` equal slices, rounded: what wavesurfer draws."""
    if samples.size == 0:
        return []
    buckets = min(buckets, samples.size)
    edges = np.linspace(0, samples.size, buckets + 1).astype(int)
    peaks = np.maximum.reduceat(np.abs(samples), edges[:-1])
    return [round(float(min(p, 1.0)), 4) for p in peaks]


def _audio(source: Path, workdir: Path) -> Result:
    probe = ffprobe(source)
    for args in audio_commands(source, workdir, probe):
        run_ffmpeg(args, "Converting the audio")
    samples = np.memmap(workdir / "peaks.f32", dtype="<f4", mode="r")  # paged in, not loaded whole
    if samples.size == 0:
        raise MediaError("The audio decoded to no samples: it is empty or truncated.")
    duration = samples.size / PEAK_RATE
    peaks = workdir / "peaks.json"
    peaks.write_text(json.dumps({"duration": round(duration, 3), "peaks": waveform_peaks(samples)}))
    result = Result(probe=probe)
    result.outputs.append(Output("web", workdir / "web.m4a", "audio/mp4"))
    result.outputs.append(Output("peaks", peaks, "application/json"))
    return result


# --- image --------------------------------------------------------------------------------------

_IMAGE_READERS = ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"]


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert from an embedded colour profile to sRGB, so dropping the profile keeps the colours."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # an unreadable profile: keep the pixels as they are
    return converted if isinstance(converted, Image.Image) else image


def _image(source: Path, workdir: Path) -> Result:
    try:
        with Image.open(source, formats=_IMAGE_READERS) as opened:
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise MediaError(
                    f"The image is {width:,} x {height:,} pixels, more than the {MAX_IMAGE_PIXELS:,} pixels "
                    "this pipeline decodes; it was not opened."
                )
            probe = {
                "format": (opened.format or "").lower(),
                "width": width,
                "height": height,
                "mode": opened.mode,
                "frames": getattr(opened, "n_frames", 1),
                "metadata": sorted(k for k in opened.info if k not in {"dpi", "gamma", "transparency"}),
                "exif_orientation": opened.getexif().get(0x0112, 1),
            }
            opened.load()
            image = _to_srgb(ImageOps.exif_transpose(opened))
    except MediaError:
        raise
    except Image.DecompressionBombError:
        raise MediaError(
            f"The image is more than the {MAX_IMAGE_PIXELS:,} pixels this pipeline decodes; it was not opened."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"The image cannot be decoded: {scrub(str(exc))}.") from None
    alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if alpha else "RGB")
    web = image.resize(_fit(*image.size, IMAGE_BOX), Image.Resampling.LANCZOS)
    result = Result(probe=probe)
    # Saved from pixels alone: no exif=, icc_profile= or text chunks are passed on.
    web.save(workdir / "web.webp", "WEBP", quality=90, method=4)
    result.outputs.append(Output("web", workdir / "web.webp", "image/webp", width=web.width, height=web.height))
    thumb = image.copy()
    thumb.thumbnail(THUMB_BOX, Image.Resampling.LANCZOS)
    thumb.save(workdir / "thumb.webp", "WEBP", quality=80, method=4)
    result.outputs.append(Output("thumb", workdir / "thumb.webp", "image/webp", width=thumb.width, height=thumb.height))
    return result


# --- 3D -----------------------------------------------------------------------------------------


def _mesh(source: Path, workdir: Path) -> Result:
    # Imported here: trimesh (and the scipy it loads) costs 0.9 s and 100 MB, which every process that
    # only hashes or transcodes files (the importer, the web tier) would otherwise pay at start.
    import trimesh

    from media_pipeline.mesh_files import NoFiles
    from media_pipeline.models import MESH_VIEW_NAMES

    extension = source.suffix.lstrip(".").lower()
    if source.stat().st_size > MAX_MESH_BYTES:
        raise MediaError(f"The mesh file is larger than {MAX_MESH_BYTES // 2**20} MB; it was not opened.")
    try:
        with source.open("rb") as handle:
            # No resolver: a file may not pull in other files (an OBJ's mtllib, a glTF's buffers),
            # so nothing outside it can end up in what annotators download.
            loaded = trimesh.load_scene(handle, file_type=extension, resolver=NoFiles(), process=False)
    except MediaError:
        raise
    except Exception as exc:
        reason = scrub(str(exc))[:200] or type(exc).__name__
        raise MediaError(f"The file is not a readable {extension.upper()} mesh: {reason}.") from None
    instances = []  # (transform, geometry) for each placement in the scene graph
    for node in loaded.graph.nodes_geometry:
        transform, name = loaded.graph[node]
        geometry = loaded.geometry.get(name)
        if isinstance(geometry, trimesh.Trimesh) and len(geometry.faces):
            instances.append((transform, geometry))
    faces = sum(len(g.faces) for _, g in instances)
    if not faces:
        raise MediaError(f"The {extension.upper()} file has no triangles (empty, or a point cloud).")
    if faces > MAX_MESH_FACES:
        raise MediaError(f"The mesh has {faces:,} triangles, more than the {MAX_MESH_FACES:,} a browser can show well.")
    bounds = np.asarray(loaded.bounds, dtype=float)
    extent = float((bounds[1] - bounds[0]).max())
    if not math.isfinite(extent) or extent <= 0:
        raise MediaError("The mesh has no size (all its vertices are in one place).")
    centre = (bounds[0] + bounds[1]) / 2
    normalise = trimesh.transformations.scale_matrix(1 / extent) @ trimesh.transformations.translation_matrix(-centre)
    # A new scene with neutral names: node, mesh and material names can name the model.
    clean = trimesh.Scene()
    for index, (transform, geometry) in enumerate(instances):
        copy = geometry.copy()
        copy.metadata = {}
        material = getattr(copy.visual, "material", None)
        if material is not None:
            material.name = f"material{index}"
        clean.add_geometry(copy, node_name=f"node{index}", geom_name=f"mesh{index}", transform=normalise @ transform)
    glb = workdir / "web.glb"
    glb.write_bytes(clean.export(file_type="glb"))
    vertices, triangles, colours = _render_input(instances, normalise)
    thumb = render_view(vertices, triangles, colours, yaw=35, pitch=25, size=THUMB_BOX[0])
    thumb.save(workdir / "thumb.webp", "WEBP", quality=85)
    views = []
    for index, name in enumerate(MESH_VIEW_NAMES):
        yaw, pitch = MESH_CAMERAS[name]
        view = render_view(vertices, triangles, colours, yaw=yaw, pitch=pitch, size=MESH_VIEW_SIZE)
        path = workdir / f"view-{name}.webp"
        view.save(path, "WEBP", quality=85)
        views.append(Output("view", path, "image/webp", index=index, width=view.width, height=view.height))
    probe = {
        "format": extension,
        "triangles": faces,
        "vertices": int(sum(len(g.vertices) for _, g in instances)),
        "geometries": len(instances),
        "extent": round(extent, 6),
        "textured": any(getattr(g.visual, "kind", None) == "texture" for _, g in instances),
    }
    result = Result(probe=probe)
    result.outputs.append(Output("web", glb, "model/gltf-binary"))
    result.outputs.append(Output("thumb", workdir / "thumb.webp", "image/webp", width=thumb.width, height=thumb.height))
    result.outputs.extend(views)
    return result


def _render_input(instances: list[tuple[np.ndarray, Any]], normalise: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every placed geometry's vertices (normalised), faces and per-face RGB colour, as one mesh.

    Colours come from the mesh's own vertex or face colours, or its texture sampled at the vertices
    (trimesh's `to_color`); a mesh with none is drawn in one neutral grey.
    """
    import trimesh

    vertices, faces, colours = [], [], []
    offset = 0
    for transform, geometry in instances:
        points = np.asarray(geometry.vertices, dtype=float)
        tris = np.asarray(geometry.faces, dtype=np.int64)
        vertices.append(trimesh.transform_points(points, normalise @ transform))
        faces.append(tris + offset)
        offset += len(points)
        colours.append(_face_colours(geometry, tris, len(points)))
    return np.concatenate(vertices), np.concatenate(faces), np.concatenate(colours)


def _face_colours(geometry: Any, tris: np.ndarray, n_vertices: int) -> np.ndarray:
    neutral = np.tile(np.array(NEUTRAL_MESH_COLOUR, dtype=float), (len(tris), 1))
    visual = geometry.visual
    if not getattr(visual, "defined", False):
        return neutral
    try:
        colour = visual.to_color() if hasattr(visual, "to_color") else visual
        if getattr(colour, "kind", None) == "face":
            return np.asarray(colour.face_colors, dtype=float)[:, :3]
        per_vertex = np.asarray(colour.vertex_colors, dtype=float)
    except Exception:  # a texture trimesh cannot sample: shape still shows, in grey
        return neutral
    if per_vertex.ndim == 1 and per_vertex.size >= 3:  # one material colour for the whole geometry
        return np.tile(per_vertex[:3], (len(tris), 1))
    if per_vertex.ndim != 2 or len(per_vertex) != n_vertices:
        return neutral
    return per_vertex[tris][:, :, :3].mean(axis=1)


def render_view(
    vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, *, yaw: float, pitch: float, size: int
) -> Image.Image:
    """A flat-shaded view of a unit-sized mesh centred at the origin, the camera turned by yaw and pitch.

    Triangles are drawn back to front (painter's algorithm) with Lambert shading from one light fixed
    to the camera, so every mesh and every view is lit alike; colours are the mesh's own (per face).
    """
    yaw, pitch = math.radians(yaw), math.radians(pitch)
    rot_y = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rot_x = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    view = vertices @ (rot_x @ rot_y).T
    tri = view[faces]  # (n, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    keep = lengths > 0
    tri, normals, colours = tri[keep], normals[keep] / lengths[keep, None], colours[keep]
    light = np.array([0.4, 0.6, 0.7]) / np.linalg.norm([0.4, 0.6, 0.7])
    shade = 0.45 + 0.55 * np.abs(normals @ light)  # both faces lit: meshes with flipped normals still read
    order = np.argsort(tri[:, :, 2].mean(axis=1))  # far (small z) first; the camera looks down -z
    image = Image.new("RGB", (size, size), (246, 246, 248))
    draw = ImageDraw.Draw(image)
    scale, offset = size * 0.8, size / 2
    xy = np.stack([tri[:, :, 0] * scale + offset, offset - tri[:, :, 1] * scale], axis=2)
    fill = np.clip(colours * shade[:, None], 0, 255).astype(np.uint8)
    for i in order:
        draw.polygon([tuple(p) for p in xy[i]], fill=tuple(int(c) for c in fill[i]))
    return image
