from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

import orjson
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from annotations.models import Pair, Task
from annotations.services.pair_import import pair_import
from media_pipeline.models import MediaAsset

pytestmark = pytest.mark.django_db(transaction=False)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_release_folder_imports_every_pair_with_labels_and_media(project, fixture_release, release_dir, settings):
    result = pair_import(project=project, data_path=release_dir)

    assert result.ok, result.problems
    assert result.summary["new_pairs"] == fixture_release.total
    # Counted from the parquet files of the release in use, one entry per task.
    assert {task: c["rows"] for task, c in result.summary["tasks"].items()} == fixture_release.task_rows
    assert set(fixture_release.task_rows) == set(Task.values)
    # Labels and model names exactly as in the parquet files.
    table = pq.read_table(release_dir / "text_to_image" / "test-00000-of-00001.parquet").to_pylist()
    for row in table:
        pair = Pair.objects.get(project=project, external_id=row["id"])
        assert pair.task == Task.T2I
        assert pair.reference_label == row["criteria_preference"]
        assert (pair.model1, pair.model2, pair.source) == (row["model1"], row["model2"], row["source"])
        assert pair.criterion == row["criteria"].strip()
        # The stored bytes are the embedded ones, unchanged, under a key that hides the model name.
        assert pair.response1_media.sha256 == hashlib.sha256(row["response1"]["bytes"]).hexdigest()
        assert row["model1"] not in pair.response1_media.file.name
        with default_storage.open(pair.response1_media.file.name, "rb") as fh:
            assert fh.read() == row["response1"]["bytes"]


def test_path_columns_resolve_in_media_data_and_meshes_are_found_beside_renders(project, fixture_release, release_dir):
    assert pair_import(project=project, data_path=release_dir).ok
    media = release_dir / "media_data"

    row = fixture_release.rows("text_video_to_text")[0]
    tv2t = Pair.objects.get(project=project, external_id=row["id"])
    assert tv2t.input_media.kind == "video"
    assert tv2t.input_media.sha256 == _sha(media / row["video"])
    row = fixture_release.rows("text_to_video")[0]
    t2v = Pair.objects.get(project=project, external_id=row["id"])
    assert t2v.response1_media.sha256 == _sha(media / row["response1"])
    row = fixture_release.row(fixture_release.pairs["t23d_glb_then_render_only"])
    duck = Pair.objects.get(project=project, external_id=row["id"])
    assert duck.response1_media.kind == "image"
    assert duck.response1_mesh.extension == "glb"
    assert duck.response1_mesh.sha256 == _sha(media / PurePosixPath(row["response1_path"]).with_suffix(".glb"))
    assert duck.response2_mesh is None  # the second response has a render only


def test_media_are_deduplicated_by_content(project, fixture_release, release_dir):
    assert pair_import(project=project, data_path=release_dir).ok
    # One input image serves two TI2I pairs; it is stored once.
    first = Pair.objects.get(project=project, external_id=fixture_release.pairs["ti2i_shared_input"]).input_media
    assert Pair.objects.filter(input_media=first).count() >= 2
    assert MediaAsset.objects.count() == len({a.sha256 for a in MediaAsset.objects.all()})


def test_reimport_adds_nothing(project, fixture_release, release_dir, release_zip, settings):
    assert pair_import(project=project, data_path=release_dir).ok
    pairs, assets = Pair.objects.count(), MediaAsset.objects.count()
    files = len(_stored_files(Path(settings.MEDIA_ROOT)))

    again = pair_import(project=project, data_path=release_zip)

    assert again.ok
    assert again.summary["new_pairs"] == 0 and again.summary["existing_pairs"] == fixture_release.total
    assert again.summary["media"]["new"] == 0
    assert (Pair.objects.count(), MediaAsset.objects.count()) == (pairs, assets)
    assert len(_stored_files(Path(settings.MEDIA_ROOT))) == files


def test_zip_of_release_imports_like_the_folder(project, fixture_release, release_zip):
    result = pair_import(project=project, data_path=release_zip)
    assert result.ok and result.summary["new_pairs"] == fixture_release.total


def test_media_data_zip_beside_configs_is_unpacked(project, fixture_release, release_copy, tmp_path):
    media = release_copy / "media_data"
    with zipfile.ZipFile(release_copy / "media_data.zip", "w") as zf:
        for path in media.rglob("*"):
            if path.is_file():
                zf.write(path, Path("media_data") / path.relative_to(media))
    for path in sorted(media.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    media.rmdir()

    result = pair_import(project=project, data_path=release_copy)
    assert result.ok, result.problems
    tv2t = fixture_release.ids("text_video_to_text")[0]  # its video is a path into media_data/
    assert Pair.objects.get(project=project, external_id=tv2t).input_media is not None


def _write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    with open(path, "wb") as fh:
        for row in rows:
            fh.write((row.encode() if isinstance(row, str) else orjson.dumps(row)) + b"\n")
    return path


def _row(**overrides) -> dict:
    row = {
        "id": "x1",
        "task": "T2I",
        "prompt": "A red circle",
        "criteria": "Prefer the red one.",
        "criteria_preference": "response1",
        "response1": "a.png",
        "response2": "b.png",
        "model1": "m1",
        "model2": "m2",
    }
    row.update(overrides)
    return row


@pytest.fixture
def media_zip(tmp_path: Path) -> Path:
    archive = tmp_path / "media.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, colour in (("a.png", "red"), ("b.png", "blue")):
            buf = io.BytesIO()
            Image.new("RGB", (8, 8), colour).save(buf, "PNG")
            zf.writestr(f"media_data/{name}", buf.getvalue())
        zf.writestr("media_data/broken.png", b"\x89PNG\r\n\x1a\nnot really")
    return archive


def test_jsonl_with_media_zip(project, tmp_path, media_zip):
    data = _write_jsonl(tmp_path / "pairs.jsonl", [_row(), _row(id="x2", criteria_preference="tie")])
    result = pair_import(project=project, data_path=data, media_path=media_zip)
    assert result.ok, result.problems
    assert Pair.objects.filter(project=project).count() == 2
    assert Pair.objects.get(external_id="x2").reference_label == "tie"


def test_every_problem_is_reported_with_file_row_and_field_and_nothing_is_stored(
    project, tmp_path, media_zip, settings
):
    data = _write_jsonl(
        tmp_path / "bad.jsonl",
        [
            _row(id="ok-1"),
            _row(id="t", task="T2X"),
            _row(id="c", criteria=""),
            _row(id="l", criteria_preference="A"),
            _row(id="m", response2="missing.png"),
            _row(id="u", response1="broken.png"),
            "{not json",
            _row(id="e", response1="../../etc/passwd"),
            _row(id="ok-1"),
        ],
    )
    result = pair_import(project=project, data_path=data, media_path=media_zip, data_label="bad.jsonl")

    assert not result.ok
    found = {(p.file, p.row, p.field) for p in result.problems}
    assert ("bad.jsonl", 2, "task") in found
    assert ("bad.jsonl", 3, "criteria_preference") in found  # a label needs a criterion
    assert ("bad.jsonl", 4, "criteria_preference") in found
    assert ("bad.jsonl", 5, "response2") in found
    assert ("bad.jsonl", 6, "response1") in found
    assert ("bad.jsonl", 7, None) in found
    assert ("bad.jsonl", 8, "response1") in found
    assert ("bad.jsonl", 9, "id") in found
    messages = " | ".join(p.message for p in result.problems)
    assert "unknown task 'T2X'" in messages
    assert "label 'response1' without a criterion" in messages
    assert "label 'A' is not one of response1, response2, tie" in messages
    assert "media file not found: media_data/missing.png" in messages
    assert "unreadable image" in messages
    assert "must be relative to media_data/ and stay inside it" in messages
    assert "duplicate id 'ok-1' (first at bad.jsonl:1)" in messages
    assert Pair.objects.count() == 0 and MediaAsset.objects.count() == 0
    assert _stored_files(Path(settings.MEDIA_ROOT)) == []


def test_failed_import_leaves_earlier_data_untouched(project, release_dir, release_copy):
    assert pair_import(project=project, data_path=release_dir).ok
    before = sorted(Pair.objects.values_list("external_id", "reference_label"))
    table = pq.read_table(release_copy / "text_to_text" / "test-00000-of-00001.parquet")
    rows = table.to_pylist()
    rows[2]["criteria_preference"] = "both"
    pq.write_table(
        table.from_pylist(rows, schema=table.schema), release_copy / "text_to_text/test-00000-of-00001.parquet"
    )

    result = pair_import(project=project, data_path=release_copy)

    assert not result.ok
    assert [(p.file, p.row, p.field) for p in result.problems] == [
        ("text_to_text/test-00000-of-00001.parquet", 3, "criteria_preference")
    ]
    assert sorted(Pair.objects.values_list("external_id", "reference_label")) == before


def test_rows_checked_before_a_late_problem_are_not_kept_and_the_next_import_works(project, tmp_path, media_zip):
    """Rows are staged as they pass; a problem on the last row must still leave nothing behind."""
    good = [_row(id=f"p{n}", prompt=f"Prompt {n}") for n in range(5)]
    bad = _write_jsonl(tmp_path / "bad.jsonl", [*good, _row(id="late", criteria_preference="A")])
    assert not pair_import(project=project, data_path=bad, media_path=media_zip).ok
    assert not Pair.objects.filter(project=project).exists()

    fixed = _write_jsonl(tmp_path / "fixed.jsonl", [*good, _row(id="late")])
    result = pair_import(project=project, data_path=fixed, media_path=media_zip)
    assert result.ok, result.problems
    assert result.summary["new_pairs"] == 6 and result.summary["tasks"]["T2I"]["new"] == 6
    # Pairs are numbered in the file's order, and each shows the media its row named.
    pairs = list(Pair.objects.filter(project=project).order_by("id").select_related("response1_media"))
    assert [p.external_id for p in pairs] == ["p0", "p1", "p2", "p3", "p4", "late"]
    assert all(p.response1_media is not None and p.response1_media.original_name.endswith("a.png") for p in pairs)

    again = pair_import(project=project, data_path=fixed, media_path=media_zip)
    assert again.ok and again.summary["new_pairs"] == 0 and again.summary["existing_pairs"] == 6


def _zip_with(tmp_path: Path, name: str, *, symlink: bool = False, data: bytes = b"x") -> Path:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("text_to_text/test.jsonl", orjson.dumps(_row(task="T2T", response1="a", response2="b")))
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, data)
    return archive


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/evil.txt", "media_data/../../escape.txt", "C:/evil.txt"])
def test_archive_paths_cannot_escape(project, tmp_path, name):
    result = pair_import(project=project, data_path=_zip_with(tmp_path, name))
    assert not result.ok
    assert "points outside the archive folder" in result.problems[0].message
    assert not (tmp_path / "escape.txt").exists()
    assert Pair.objects.count() == 0


def test_archive_symlinks_are_refused(project, tmp_path):
    result = pair_import(project=project, data_path=_zip_with(tmp_path, "media_data/link", symlink=True, data=b"/etc"))
    assert not result.ok and "symbolic link" in result.problems[0].message


def test_archive_that_unpacks_too_large_is_refused(project, tmp_path, settings):
    settings.OMNI_IMPORT_MAX_UNPACKED_MB = 1
    result = pair_import(project=project, data_path=_zip_with(tmp_path, "big.bin", data=b"\0" * (2 * 1024 * 1024)))
    assert not result.ok
    assert "the limit is" in result.problems[0].message and "OMNI_IMPORT_MAX_UNPACKED_MB" in result.problems[0].message


def test_not_a_parquet_file_is_reported(project, tmp_path):
    bad = tmp_path / "text_to_text"
    bad.mkdir()
    (bad / "test-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    result = pair_import(project=project, data_path=tmp_path)
    assert not result.ok
    assert result.problems[0].file == "text_to_text/test-00000-of-00001.parquet"
    assert "not a readable parquet file" in result.problems[0].message


def test_jsonl_rows_without_task_use_the_default(project, tmp_path):
    from annotations.models import task_spec

    data = _write_jsonl(tmp_path / "t.jsonl", [_row(task=None, response1="short", response2="long")])
    assert not pair_import(project=project, data_path=data).ok
    result = pair_import(project=project, data_path=data, default_task=task_spec("text_to_text"))
    assert result.ok and Pair.objects.get(external_id="x1").task == Task.T2T
