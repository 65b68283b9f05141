"""The generated fixture release is a faithful Omni-RewardBench release, and each release's roles hold.

Other tests take ids and files from a FixtureRelease's roles ("the HEVC video", "the pair whose first
render has a GLB beside it"); these tests check that the roles say the truth, for the release in use
(shared or generated) and for the generated one, so a wrong role fails here rather than weakening a test.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import trimesh
from PIL import Image

from annotations.models import Pair, Task
from annotations.services.pair_import import pair_import
from media_pipeline.models import MediaAsset
from tests.conftest import FIXTURE_RELEASE
from tests.fixture_release import CONFIG_TASKS, PARQUET, FixtureRelease


@pytest.fixture(params=["in_use", "generated"])
def release(request, fixture_release, generated_release) -> FixtureRelease:
    return fixture_release if request.param == "in_use" else generated_release


def _probe(path: Path) -> dict:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    )
    return json.loads(done.stdout)


# The columns of HongbangYuan/OmniRewardBench (its README's dataset_info), written out here rather than taken
# from the generator: `name:Image` / `name:Audio` are {bytes, path} structs, the rest strings.
_TAIL = "model1 model2 criteria criteria_preference id"
PUBLISHED_COLUMNS = {
    "text_to_text": f"prompt response1 response2 {_TAIL}",
    "text_image_to_text": f"prompt image:Image response1 response2 {_TAIL} image_path",
    "text_video_to_text": f"prompt video response1 response2 {_TAIL}",
    "text_audio_to_text": f"prompt audio:Audio response1 response2 {_TAIL} audio_path",
    "text_to_image": f"prompt response1:Image response2:Image {_TAIL} source response1_path response2_path",
    "text_to_video": f"prompt response1 response2 {_TAIL} source",
    "text_to_audio": f"prompt response1:Audio response2:Audio {_TAIL} source response1_path response2_path",
    "text_to_3D": f"prompt response1:Image response2:Image {_TAIL} response1_path response2_path",
    "text_image_to_image": f"prompt image:Image response1:Image response2:Image {_TAIL} "
    "image_path response1_path response2_path",
}
_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def test_generated_release_has_the_published_layout_and_schemas(generated_release):
    root = generated_release.root
    assert sorted(p.name for p in root.iterdir()) == sorted([*CONFIG_TASKS, "README.md", "media_data"])
    assert set(PUBLISHED_COLUMNS) == set(CONFIG_TASKS)
    for config, spec in PUBLISHED_COLUMNS.items():
        assert [p.name for p in (root / config).iterdir()] == [PARQUET]
        schema = pq.read_schema(root / config / PARQUET)
        columns = [c.partition(":") for c in spec.split()]
        assert schema.names == [name for name, _, _ in columns], config
        assert schema.types == [_STRUCT if kind else pa.string() for _, _, kind in columns], config
        features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
        assert features == {
            name: {"_type": kind} if kind else {"dtype": "string", "_type": "Value"} for name, _, kind in columns
        }, config
        if FIXTURE_RELEASE.is_dir():  # and exactly what the real-world release declares, when it is here
            shared = pq.read_schema(FIXTURE_RELEASE / config / PARQUET)
            assert (schema.names, schema.types) == (shared.names, shared.types), config
            assert schema.metadata == shared.metadata, config


def test_generated_rows_are_labelled_with_unique_ids_and_ties(generated_release):
    ids, labels = [], Counter()
    for config in CONFIG_TASKS:
        rows = generated_release.rows(config)
        assert 3 <= len(rows) <= 5, config
        for row in rows:
            assert row["criteria_preference"] in ("response1", "response2", "tie"), row["id"]
            assert row["model1"] and row["model2"] and row["model1"] != row["model2"], row["id"]
            assert row["criteria"].strip() and row["prompt"].strip(), row["id"]
            labels[row["criteria_preference"]] += 1
        ids += [r["id"] for r in rows]
        # As in the published release: a tie, and one comparison labelled both ways under two criteria.
        assert "tie" in {r["criteria_preference"] for r in rows}, config
        by_comparison: dict[tuple, set[str]] = {}
        for row in rows:
            key = tuple(str(v) for k, v in sorted(row.items()) if k not in ("id", "criteria", "criteria_preference"))
            by_comparison.setdefault(key, set()).add(row["criteria_preference"])
        assert {"response1", "response2"} in by_comparison.values(), config
    assert len(ids) == len(set(ids)) == generated_release.total
    assert min(labels.values()) >= 5 and set(labels) == {"response1", "response2", "tie"}


def test_generated_media_are_embedded_byte_for_byte(generated_release):
    """Image and Audio columns carry the file's bytes and name, as push_to_hub embeds them."""
    media = generated_release.root / "media_data"
    for config in CONFIG_TASKS:
        for row in generated_release.rows(config):
            for column, value in row.items():
                if isinstance(value, dict):
                    relative = row[f"{column}_path"]
                    assert value["path"] == PurePosixPath(relative).name, row["id"]
                    assert value["bytes"] == (media / relative).read_bytes(), (row["id"], column)


@pytest.mark.parametrize(
    ("role", "codec"),
    [("video_hevc", "hevc"), ("video_theora", "theora"), ("video_vp9_alpha", "vp9"), ("video_webm_no_duration", None)],
)
def test_video_roles_are_the_formats_they_name(release, role, codec):
    probe = _probe(release.media_path(role))
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert int(video["nb_read_packets"]) > 5  # a moving clip, not one still frame
    if codec:
        assert video["codec_name"] == codec
    if role == "video_vp9_alpha":
        assert video["tags"].get("alpha_mode") == "1"
    if role == "video_webm_no_duration":
        assert probe["format"]["format_name"] == "matroska,webm"
        assert "duration" not in probe["format"]  # ffprobe prints N/A, which its JSON leaves out


def test_audio_image_and_mesh_roles_are_what_they_name(release):
    assert _probe(release.media_path("audio_flac"))["streams"][0]["codec_name"] == "flac"
    with Image.open(release.media_path("image_jpeg_exif6")) as jpeg:
        assert jpeg.format == "JPEG" and jpeg.getexif().get(0x0112) == 6
    with Image.open(release.media_path("image_png_rgba")) as png:
        assert png.format == "PNG" and png.mode == "RGBA" and png.getextrema()[3][0] < 255
    for role, ext in (("mesh_glb", ".glb"), ("mesh_ply", ".ply"), ("mesh_obj", ".obj")):
        path = release.media_path(role)
        assert path.suffix == ext
        assert len(trimesh.load(str(path), force="mesh").faces) > 0, role
    obj = release.media_path("mesh_obj")
    library = next(line.split()[1] for line in obj.read_text().splitlines() if line.startswith("mtllib"))
    assert (obj.parent / library).is_file()


def test_pair_roles_are_what_they_name(release):
    row = release.row(release.pairs["t23d_glb_then_render_only"])
    glb = release.mesh_beside(row["response1_path"])
    assert glb is not None and glb.suffix == ".glb"
    assert release.mesh_beside(row["response2_path"]) is None

    row = release.row(release.pairs["t2v_browse"])
    assert release.media["video_webm_no_duration"] in (row["response1"], row["response2"])

    row = release.row(release.pairs["ti2i_shared_input"])
    same_input = [r["id"] for r in release.rows("text_image_to_image") if r["image"]["bytes"] == row["image"]["bytes"]]
    assert len(same_input) >= 2


@pytest.mark.django_db
def test_generated_release_imports_with_every_mesh_beside_its_render(project, generated_release):
    result = pair_import(project=project, data_path=generated_release.root)

    assert result.ok, result.problems
    assert result.summary["new_pairs"] == generated_release.total
    assert {t: c["rows"] for t, c in result.summary["tasks"].items()} == generated_release.task_rows
    assert set(generated_release.task_rows) == set(Task.values)
    assert result.summary["media"]["files"] == generated_release.media_files == MediaAsset.objects.count()
    meshes = {}
    for pair in Pair.objects.filter(project=project, task=Task.T23D).select_related("response1_mesh", "response2_mesh"):
        row = generated_release.row(pair.external_id)
        for n in (1, 2):
            mesh, beside = getattr(pair, f"response{n}_mesh"), generated_release.mesh_beside(row[f"response{n}_path"])
            assert (mesh and mesh.sha256) == (beside and hashlib.sha256(beside.read_bytes()).hexdigest())
            if mesh:
                meshes[mesh.extension] = pair.external_id
    assert set(meshes) == {"glb", "ply", "obj"}


def test_generated_release_loads_by_config_name_with_datasets(generated_release, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    for config in ("text_to_text", "text_image_to_image"):
        loaded = datasets.load_dataset(str(generated_release.root), config, cache_dir=str(tmp_path / "cache"))
        assert list(loaded) == ["test"]
        assert loaded["test"]["id"] == generated_release.ids(config)
    edit = loaded["test"][0]
    assert isinstance(edit["image"], Image.Image) and isinstance(edit["response2"], Image.Image)
