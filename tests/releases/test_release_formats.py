"""A published release loads in full in both worlds (issue 14, item 7).

The pairs are made here (Pillow, ffmpeg lavfi, trimesh), so these tests need no shared fixture:
every task, T23D with a mesh imported alone and a mesh beside its render, audio of three
containers, and a T2V WebM written by ffmpeg to a pipe (its container declares no duration, which
decord, the paper's video reader, cannot open). They are imported, processed by the media
pipeline, published with gold labels and built by `release_build`, as in production.

Audio: `datasets` 5 decodes `Audio` cells through torchcodec, which needs PyTorch and cannot be
installed here, so the Audio cells are read undecoded (`Audio(decode=False)`) and decoded with
soundfile (libsndfile), which reads the same WAV/FLAC/Ogg Vorbis/MP3 files. One exception: FLAC
inside Ogg (the shared fixture has one), which libsndfile 1.2 fails on, is decoded by ffmpeg, the
decoder behind torchcodec, and the WAV it writes is read with soundfile.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
import soundfile
from PIL import Image

from annotations.demo import synth
from annotations.importing.media import MediaCatalog
from annotations.importing.readers import RawRow
from annotations.importing.rows import RowChecker
from annotations.importing.sources import DataFile
from annotations.models import TASK_SPECS, Label, Pair, Project, Task
from annotations.services.pair_import import pair_import
from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, MediaAsset, MediaKind, Rendition, RenditionRole
from releases.models import Release, ReleaseStatus
from releases.services.publish import release_publish
from releases.services.quality import pair_gold_set
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

PARQUET = "test-00000-of-00001.parquet"
VIDEO_EXTENSIONS = {".mp4", ".webm", ".mkv", ".mov", ".m4v", ".ogv", ".avi"}
MEDIA_COLUMNS = Pair.MEDIA_FIELDS


# --- the pairs ----------------------------------------------------------------------------------


def _ffmpeg(*args: str, stdout: Any = subprocess.DEVNULL) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, stdout=stdout)


def _piped_webm(path: Path) -> None:
    """A WebM written to a pipe, as in the issue: the muxer cannot seek back to write the duration."""
    with path.open("wb") as out:
        _ffmpeg(
            *("-f", "lavfi", "-i", "testsrc=d=1:size=160x120:rate=12"),
            *("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:d=1"),
            *("-c:v", "libvpx", "-b:v", "200k", "-c:a", "libvorbis", "-shortest", "-f", "webm", "-"),
            stdout=out,
        )


def _declared_duration(path: Path) -> float | None:
    """The container's own duration per ffprobe (no packet-time fallback)."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    )
    value = json.loads(done.stdout).get("format", {}).get("duration")
    return float(value) if value not in (None, "N/A") else None


def _frame_hashes(path: Path) -> list[str]:
    """Every decoded video frame's MD5, in order: decodes the whole stream, and fails on a broken one."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True,
        check=True,
    )
    return [line.rsplit(",", 1)[1].strip() for line in done.stdout.decode().splitlines() if not line.startswith("#")]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSONL import with media for all nine tasks, made once per module."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg is not installed (scripts/install.sh installs it)")
    root = tmp_path_factory.mktemp("formats")
    media = root / "media_data"

    def image(name: str, colour: str, shape: str = "circle") -> str:
        synth.image(media / name, shape=shape, colour=colour, size="large", background="white", edge=96)
        return name

    def mesh(name: str, shape: str, colour: str) -> str:
        synth.mesh(media / name, shape=shape, colour=colour)
        return name

    (media / "av").mkdir(parents=True)
    _ffmpeg(*("-f", "lavfi", "-i", "testsrc2=d=1:size=160x120:rate=12"), "-pix_fmt", "yuv420p", str(media / "av/a.mp4"))
    _ffmpeg(*("-f", "lavfi", "-i", "smptebars=d=1:size=160x120:rate=12"), "-c:v", "libvpx", str(media / "av/b.webm"))
    _piped_webm(media / "av/piped.webm")
    assert _declared_duration(media / "av/piped.webm") is None  # the case the issue is about
    synth.audio(media / "av/beep.wav", sound="high beep", seconds=1)
    synth.audio(media / "av/hum.flac", sound="low hum", seconds=1)
    synth.audio(media / "av/chirp.ogg", sound="chirp", seconds=1)

    # T23D: a mesh alone; a render with its mesh beside it (same stem); a render without a mesh.
    mesh("3d/cube.ply", "cube", "red")
    image("3d/torus.png", "blue", "square")
    mesh("3d/torus.glb", "torus", "blue")
    image("3d/cone.png", "green", "triangle")
    mesh("3d/sphere.obj", "sphere", "yellow")

    base = {"criteria": "Prefer the clearer one.", "model1": "maker-a", "model2": "maker-b"}
    rows = [
        {"task": "T2T", "id": "t2t", "prompt": "Say hi.", "response1": "Hi.", "response2": "Hello there."},
        {
            "task": "TI2T",
            "id": "ti2t",
            "prompt": "Colour?",
            "image": image("ti2t.png", "red"),
            "response1": "Red.",
            "response2": "Blue.",
        },
        {
            "task": "TV2T",
            "id": "tv2t",
            "prompt": "What moves?",
            "video": "av/a.mp4",
            "response1": "Bars.",
            "response2": "A pattern.",
        },
        {
            "task": "TA2T",
            "id": "ta2t",
            "prompt": "Pitch?",
            "audio": "av/beep.wav",
            "response1": "High.",
            "response2": "Low.",
        },
        {
            "task": "T2I",
            "id": "t2i",
            "prompt": "A circle.",
            "response1": image("t2i/1.png", "red"),
            "response2": image("t2i/2.jpg", "green"),
        },
        {"task": "T2V", "id": "t2v-piped", "prompt": "Bars.", "response1": "av/piped.webm", "response2": "av/a.mp4"},
        {"task": "T2V", "id": "t2v-files", "prompt": "Bars.", "response1": "av/b.webm", "response2": "av/piped.webm"},
        {"task": "T2A", "id": "t2a-1", "prompt": "A beep.", "response1": "av/beep.wav", "response2": "av/hum.flac"},
        {"task": "T2A", "id": "t2a-2", "prompt": "A chirp.", "response1": "av/chirp.ogg", "response2": "av/beep.wav"},
        {
            "task": "T23D",
            "id": "t23d-mixed",
            "prompt": "A toy.",
            "response1": "3d/cube.ply",
            "response2": "3d/torus.png",
        },
        {
            "task": "T23D",
            "id": "t23d-render",
            "prompt": "A toy.",
            "response1": "3d/cone.png",
            "response2": "3d/sphere.obj",
        },
        {
            "task": "TI2I",
            "id": "ti2i",
            "prompt": "Make it blue.",
            "image": image("ti2i/in.png", "red"),
            "response1": image("ti2i/1.png", "blue"),
            "response2": image("ti2i/2.png", "yellow", "square"),
        },
    ]
    labels = [Label.RESPONSE1, Label.RESPONSE2, Label.TIE]
    with (root / "pairs.jsonl").open("wb") as out:
        for number, row in enumerate(rows):
            out.write(orjson.dumps({**base, **row, "criteria_preference": labels[number % 3]}) + b"\n")
    return root


def _import(project: Project, source: Path, capture: Any, *, process: bool = True) -> None:
    if process:  # the pipeline's jobs run (eagerly) as the import commits
        with capture(execute=True):
            result = pair_import(project=project, data_path=source)
    else:
        result = pair_import(project=project, data_path=source)
    assert result.ok, result.problems


def _publish(project: Project, curator: Any, capture: Any, tmp_path: Path) -> tuple[Release, Path]:
    """Publish every pair (gold labels stand in for votes) and build the archive as the job does; unzipped."""
    for pair in Pair.objects.filter(project=project):
        pair_gold_set(pair=pair, label=pair.reference_label)
    with capture(execute=True):
        release = release_publish(project=project, user=curator, bootstrap=10)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.READY, release.error
    folder = tmp_path / f"{project.slug}-v{release.version}"
    with release.archive.open("rb") as fh, zipfile.ZipFile(io.BytesIO(fh.read())) as zf:
        zf.extractall(folder)
    return release, folder


@pytest.fixture
def built(project, curator, source, django_capture_on_commit_callbacks, tmp_path) -> tuple[Release, Path]:
    _import(project, source, django_capture_on_commit_callbacks)
    assert set(MediaAsset.objects.values_list("status", flat=True)) == {AssetStatus.READY}  # the piped WebM too
    return _publish(project, curator, django_capture_on_commit_callbacks, tmp_path)


def _pairs(project: Project) -> dict[str, Pair]:
    return {p.external_id: p for p in Pair.objects.filter(project=project).select_related(*MEDIA_COLUMNS)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _thumb_sha(asset: MediaAsset) -> str:
    thumb = Rendition.objects.get(asset=asset, role=RenditionRole.THUMB)
    with thumb.file.open("rb") as fh:
        return _sha(fh.read())


# --- datasets -----------------------------------------------------------------------------------


@pytest.fixture
def datasets(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    module = pytest.importorskip("datasets")
    monkeypatch.setattr(module.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(module.config, "HF_DATASETS_OFFLINE", True, raising=False)
    return module


def _decode_audio(data: bytes) -> tuple[Any, int]:
    """Samples and rate, decoded by soundfile; Ogg FLAC through ffmpeg (module docstring)."""
    if data.startswith(b"OggS") and b"\x7fFLAC" in data[:128]:
        done = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", "pipe:0", "-f", "wav", "pipe:1"],
            input=data,
            capture_output=True,
            check=True,
        )
        data = done.stdout
    samples, rate = soundfile.read(io.BytesIO(data))
    return samples, rate


def _check_loads_and_decodes(datasets: Any, folder: Path, cache: Path) -> dict[str, list[dict[str, Any]]]:
    """Load every config of an unzipped release both ways and decode every Image and Audio cell.

    Returns the rows per config, with images as PIL images and audio as (samples, rate) from soundfile.
    """
    configs = sorted(p.parent.name for p in folder.glob(f"*/{PARQUET}") if p.parent.name != "without_tie")
    assert configs, "the release has no configs"
    loaded: dict[str, list[dict[str, Any]]] = {}
    for config in configs:
        parquet = folder / config / PARQUET
        table = datasets.load_dataset("parquet", data_files=[str(parquet)], split="train", cache_dir=str(cache))
        assert len(table) == pq.read_metadata(parquet).num_rows > 0, config
        audio = [name for name, feature in table.features.items() if isinstance(feature, datasets.Audio)]
        images = [name for name, feature in table.features.items() if isinstance(feature, datasets.Image)]
        for name in audio:  # torchcodec is not installable here: decode with soundfile (module docstring)
            table = table.cast_column(name, datasets.Audio(decode=False))
        rows = []
        for row in table:
            for name in images:
                assert isinstance(row[name], Image.Image), (config, row["id"], name)
                row[name].load()  # decodes every pixel
                assert row[name].width > 0 and row[name].height > 0
            for name in audio:
                samples, rate = _decode_audio(row[name]["bytes"])
                assert len(samples) > 0 and rate > 0, (config, row["id"], name)
                row[name] = (samples, rate)
            rows.append(row)
        loaded[config] = rows
        # The dataset card's configs: the folder loads by config name, with the tie-less split.
        # A task whose pairs are all ties has no tie-less split: datasets refuses an empty one.
        both = datasets.load_dataset(str(folder), config, cache_dir=str(cache / "by-name"))
        decided = sum(r["criteria_preference"] != Label.TIE for r in rows)
        assert set(both) == ({"test", "test_without_tie"} if decided else {"test"}), config
        assert len(both["test"]) == len(rows), config
        assert len(both.get("test_without_tie", ())) == decided, config
    return loaded


def test_every_config_loads_with_datasets_and_every_image_and_audio_cell_decodes(built, project, datasets, tmp_path):
    _, folder = built
    loaded = _check_loads_and_decodes(datasets, folder, tmp_path / "cache")

    assert set(loaded) == {spec.config for spec in TASK_SPECS.values()}
    pairs = _pairs(project)
    for config, rows in loaded.items():
        expected = [p.external_id for p in pairs.values() if TASK_SPECS[p.task].config == config]
        assert sorted(r["id"] for r in rows) == sorted(expected)
    # The audio decodes to what was imported: soundfile reads the originals the same way.
    for row in loaded["text_to_audio"]:
        pair = pairs[row["id"]]
        for n in (1, 2):
            asset = getattr(pair, f"response{n}_media")
            with asset.file.open("rb") as fh:
                expected, rate = soundfile.read(io.BytesIO(fh.read()))
            samples, got_rate = row[f"response{n}"]
            assert got_rate == rate and samples.shape == expected.shape
    samples, rate = loaded["text_audio_to_text"][0]["audio"]
    assert rate == 44100 and len(samples) == 44100  # the 1 s beep

    # T23D: each Image cell holds an image: the imported render, or the pipeline's render of a mesh imported alone.
    t23d = {r["id"]: r for r in pq.read_table(folder / "text_to_3D" / PARQUET).to_pylist()}
    mixed, render = pairs["t23d-mixed"], pairs["t23d-render"]
    assert mixed.response1_media.kind == MediaKind.MESH and mixed.response1_mesh is None  # imported alone
    assert _sha(t23d["t23d-mixed"]["response1"]["bytes"]) == _thumb_sha(mixed.response1_media)
    assert _sha(t23d["t23d-mixed"]["response2"]["bytes"]) == mixed.response2_media.sha256  # the imported render
    assert _sha(t23d["t23d-render"]["response1"]["bytes"]) == render.response1_media.sha256
    assert _sha(t23d["t23d-render"]["response2"]["bytes"]) == _thumb_sha(render.response2_media)
    # The mesh keeps its place under media_data/, named in the added column, beside its render.
    for external_id, n, mesh in (
        ("t23d-mixed", 1, mixed.response1_media),
        ("t23d-mixed", 2, mixed.response2_mesh),
        ("t23d-render", 2, render.response2_media),
    ):
        row = t23d[external_id]
        path = row[f"response{n}_mesh_path"]
        assert _sha((folder / "media_data" / path).read_bytes()) == mesh.sha256
        assert PurePosixPath(path).with_suffix("") == PurePosixPath(row[f"response{n}_path"]).with_suffix("")
        assert PurePosixPath(path).suffix == f".{mesh.extension}"
    assert t23d["t23d-render"]["response1_mesh_path"] is None  # a render without a mesh


def test_every_video_declares_a_duration_and_decodes_and_the_manifest_names_the_remux(built, project, source):
    release, folder = built
    manifest = json.loads((folder / "manifest.json").read_text())
    videos = sorted(p for p in (folder / "media_data").rglob("*") if p.suffix in VIDEO_EXTENSIONS)
    assert len(videos) == 4  # a.mp4 under text_to_video/ and text_video_to_text/, b.webm, the piped WebM
    for video in videos:
        duration = _declared_duration(video)
        assert duration is not None and 0.8 < duration < 1.5, video
        assert len(_frame_hashes(video)) >= 10, video

    piped = MediaAsset.objects.get(sha256=_sha((source / "media_data/av/piped.webm").read_bytes()))
    (remuxed,) = manifest["remuxed"]
    shipped = folder / "media_data" / remuxed["path"]
    assert remuxed["original_sha256"] == piped.sha256
    assert remuxed["sha256"] == _sha(shipped.read_bytes()) != piped.sha256
    assert "stream copy" in remuxed["remuxed"]
    # Lossless: the remux decodes to exactly the original's frames.
    assert _frame_hashes(shipped) == _frame_hashes(source / "media_data/av/piped.webm")
    # Every pair that shows the piped WebM points at the remux, and says so.
    showing = [(e["id"], m) for e in manifest["pairs"] for m in e["media"].values() if m["path"] == remuxed["path"]]
    assert sorted(i for i, _ in showing) == ["t2v-files", "t2v-piped"]
    assert all(m["sha256"] == remuxed["sha256"] and m["original_sha256"] == piped.sha256 for _, m in showing)
    # Every other video ships as imported.
    for video in videos:
        if video != shipped:
            assert MediaAsset.objects.filter(sha256=_sha(video.read_bytes()), kind=MediaKind.VIDEO).exists()
    assert f"media_data/{remuxed['path']}" in (folder / "README.md").read_text()
    release.refresh_from_db()
    assert release.archive_sha256  # the built zip is the one stored


def test_the_paper_layout_has_a_json_file_per_task_with_paths_into_media_data(built, project):
    _, folder = built
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["paper_layout"] == {spec.config: f"{spec.config}_preferences.json" for spec in TASK_SPECS.values()}
    visual_path = folder / "media_data"
    for spec in TASK_SPECS.values():
        records = json.loads((folder / f"{spec.config}_preferences.json").read_text())
        parquet = pq.read_table(folder / spec.config / PARQUET).to_pylist()
        assert isinstance(records, list) and [r["id"] for r in records] == [r["id"] for r in parquet]
        for record, row in zip(records, parquet, strict=True):
            assert set(record) == set(row)
            for name, value in row.items():
                if isinstance(value, dict):  # an embedded Image/Audio cell: its path, with the same bytes there
                    assert isinstance(record[name], str)
                    assert (visual_path / record[name]).read_bytes() == value["bytes"], (spec.config, name)
                else:
                    assert record[name] == value
            media_fields = [f for f in ("image", "video", "audio") if f in record]
            media_fields += [f for f in record if f.endswith("_path") and record[f] is not None]
            if spec.media_responses:
                media_fields += ["response1", "response2"]
            for field in media_fields:
                path = record[field]
                assert isinstance(path, str) and not os.path.isabs(path), (spec.config, field)
                assert (visual_path / path).is_file(), (spec.config, field, path)
        # Read the way the paper's run_exp.py reads it: os.path.join(visual_path, sample[...]) into PIL.
        if spec.task in (Task.T2I, Task.T23D, Task.TI2I):
            for sample in records:
                for key in ("response1", "response2", *(("image",) if spec.task == Task.TI2I else ())):
                    Image.open(os.path.join(visual_path, sample[key])).load()
    # Ties stay in the file: the paper's code filters them itself for accuracy w/o tie.
    everything = [
        r for spec in TASK_SPECS.values() for r in json.loads((folder / f"{spec.config}_preferences.json").read_text())
    ]
    assert {r["criteria_preference"] for r in everything} == {Label.RESPONSE1, Label.RESPONSE2, Label.TIE}


def test_reimporting_the_built_zip_restores_the_meshes_on_t23d_pairs(
    built, project, django_capture_on_commit_callbacks, tmp_path
):
    release, _ = built
    zipped = tmp_path / "release.zip"
    with release.archive.open("rb") as fh:
        zipped.write_bytes(fh.read())
    again = ProjectFactory(slug="again")
    result = pair_import(project=again, data_path=zipped)
    assert result.ok, result.problems

    before, after = _pairs(project), _pairs(again)
    assert set(after) == set(before)
    for external_id in ("t23d-mixed", "t23d-render"):
        old, new = before[external_id], after[external_id]
        for n in (1, 2):
            old_media, old_mesh = getattr(old, f"response{n}_media"), getattr(old, f"response{n}_mesh")
            mesh = old_media if old_media.kind == MediaKind.MESH else old_mesh
            new_media, new_mesh = getattr(new, f"response{n}_media"), getattr(new, f"response{n}_mesh")
            assert new_media.kind == MediaKind.IMAGE, (external_id, n)  # what datasets and judges can show
            if mesh is None:
                assert new_mesh is None and new_media.sha256 == old_media.sha256
            else:
                assert new_mesh is not None and new_mesh.sha256 == mesh.sha256, (external_id, n)
            if old_media.kind == MediaKind.MESH:
                assert new_media.sha256 == _thumb_sha(old_media)
            elif old_mesh is not None:
                assert new_media.sha256 == old_media.sha256


def test_a_mesh_the_pipeline_has_not_rendered_yet_ships_the_same_render(
    project, curator, source, django_capture_on_commit_callbacks, tmp_path
):
    _import(project, source, django_capture_on_commit_callbacks, process=False)
    mesh = _pairs(project)["t23d-mixed"].response1_media
    assert mesh.status == AssetStatus.QUEUED and not Rendition.objects.filter(asset=mesh).exists()
    # The gate admits gold pairs whatever their media state; the build renders the mesh itself.
    _, folder = _publish(project, curator, django_capture_on_commit_callbacks, tmp_path)
    row = next(r for r in pq.read_table(folder / "text_to_3D" / PARQUET).to_pylist() if r["id"] == "t23d-mixed")

    assert pipeline.run(mesh.pk) == AssetStatus.READY
    assert _sha(row["response1"]["bytes"]) == _thumb_sha(mesh)  # byte for byte what the pipeline makes
    Image.open(io.BytesIO(row["response1"]["bytes"])).load()


def test_a_mesh_path_that_is_not_a_string_is_a_problem_naming_the_field(tmp_path):
    (tmp_path / "media").mkdir()
    synth.image(tmp_path / "media" / "r.png", shape="circle", colour="red", size="large", background="white", edge=32)
    checker = RowChecker(MediaCatalog(tmp_path / "media", tmp_path, 10**8), None)
    data = {
        "task": "T23D",
        "id": "x",
        "prompt": "A toy.",
        "criteria": "c",
        "response1": "r.png",
        "response2": "r.png",
        "response1_mesh_path": 7,
    }
    file = DataFile(tmp_path / "pairs.jsonl", "pairs.jsonl", "jsonl", None)

    draft, problems = checker.check(RawRow(file, 3, data))

    assert draft is None
    assert [(p.file, p.row, p.field) for p in problems] == [("pairs.jsonl", 3, "response1_mesh_path")]


def test_the_shared_fixture_release_loads_in_full_after_a_round_trip(
    project, curator, release_dir, django_capture_on_commit_callbacks, datasets, tmp_path
):
    """An extra layer over the real Omni-RewardBench layout (skipped when the fixture is absent)."""
    # Unprocessed: the build needs no renditions here (the fixture's meshes come with renders), and
    # transcoding its videos would only make the test slow.
    _import(project, release_dir, django_capture_on_commit_callbacks, process=False)
    _, folder = _publish(project, curator, django_capture_on_commit_callbacks, tmp_path)

    loaded = _check_loads_and_decodes(datasets, folder, tmp_path / "cache")

    assert sum(len(rows) for rows in loaded.values()) == Pair.objects.filter(project=project).count()
    for video in (p for p in (folder / "media_data").rglob("*") if p.suffix in VIDEO_EXTENSIONS):
        assert _declared_duration(video) is not None, video
        assert _frame_hashes(video), video
