from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from django.urls import reverse
from PIL import Image

from annotations.models import TASK_SPECS, Label, Pair, Project, Task
from annotations.services.pair_import import pair_import
from media_pipeline.models import MediaAsset
from releases.models import LabelSource, Release, ReleasePair
from releases.services import archive
from releases.services.archive import ArchiveError, ArchiveInfo, write_release_archive
from releases.services.dataset_card import yaml_quote
from releases.services.publish import release_publish
from releases.services.quality import pair_gold_set
from tests.conftest import client_for
from tests.factories import PairFactory, ProjectFactory

pytestmark = pytest.mark.django_db

MEDIA_COLUMNS = Pair.MEDIA_FIELDS
PARQUET = "test-00000-of-00001.parquet"


def _freeze(project: Project, *, labels: dict[str, str] | None = None, **fields: Any) -> Release:
    """A release of every pair of the project, frozen the way release_publish freezes it."""
    release = Release.objects.create(
        project=project,
        version=fields.pop("version", 1),
        gate={"min_votes": 3, "min_majority_share": 0.6667, "tie_policy": "label"},
        statistics=fields.pop("statistics", {}),
        summary={},
        **fields,
    )
    labels = labels or {}
    ReleasePair.objects.bulk_create(
        ReleasePair(
            release=release,
            pair=pair,
            external_id=pair.external_id,
            task=pair.task,
            label=(label := labels.get(pair.external_id, pair.reference_label or Label.RESPONSE1)),
            source=LabelSource.VOTES,
            votes={label: 3},
            majority_share=1.0,
            media={c: getattr(pair, c).sha256 for c in MEDIA_COLUMNS if getattr(pair, f"{c}_id")},
        )
        for pair in Pair.objects.filter(project=project).select_related(*MEDIA_COLUMNS)
    )
    return release


@pytest.fixture
def imported(project, release_dir) -> Project:
    result = pair_import(project=project, data_path=release_dir)
    assert result.ok, result.problems
    return project


def _build(release: Release, tmp_path: Path, name: str = "release.zip") -> tuple[ArchiveInfo, Path]:
    dest = tmp_path / name
    return write_release_archive(release, dest), dest


def _unzip(dest: Path, folder: Path) -> Path:
    with zipfile.ZipFile(dest) as zf:
        zf.extractall(folder)
    return folder


def _media_of(pair: Pair) -> dict[str, str]:
    return {c: getattr(pair, c).sha256 for c in MEDIA_COLUMNS if getattr(pair, f"{c}_id")}


def test_the_archive_imports_back_into_a_new_project_unchanged(imported, fixture_release, tmp_path):
    release = _freeze(imported)
    info, dest = _build(release, tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    again = ProjectFactory(slug="again")
    result = pair_import(project=again, data_path=folder)
    # A video without a container duration ships as its lossless remux (tests/releases/test_release_formats.py).
    remuxed = json.loads((folder / "manifest.json").read_text())["remuxed"]
    shipped = {r["original_sha256"]: r["sha256"] for r in remuxed}

    assert result.ok, result.problems
    before = {p.external_id: p for p in Pair.objects.filter(project=imported).select_related(*MEDIA_COLUMNS)}
    after = {p.external_id: p for p in Pair.objects.filter(project=again).select_related(*MEDIA_COLUMNS)}
    assert set(after) == set(before) and len(after) == info.pairs == fixture_release.total
    for external_id, old in before.items():
        new = after[external_id]
        fields = ("task", "reference_label", "prompt", "criterion", "response1_text", "response2_text")
        assert [getattr(new, f) for f in fields] == [getattr(old, f) for f in fields], external_id
        assert (new.model1, new.model2, new.source) == (old.model1, old.model2, old.source)
        assert _media_of(new) == {c: shipped.get(sha, sha) for c, sha in _media_of(old).items()}, external_id
    # The fixture has T23D meshes (GLB and PLY), and they come back beside their renders.
    meshes = [p for p in after.values() if p.response1_mesh_id or p.response2_mesh_id]
    assert len(meshes) >= 2
    extensions = {m.extension for p in meshes for m in (p.response1_mesh, p.response2_mesh) if m is not None}
    assert extensions >= {"glb", "ply"}


def test_the_archive_is_the_published_layout_with_opaque_media_names(imported, fixture_release, tmp_path):
    info, dest = _build(_freeze(imported), tmp_path)

    with zipfile.ZipFile(dest) as zf:
        names = zf.namelist()
        infos = {i.filename: i for i in zf.infolist()}
    configs = {spec.config for spec in TASK_SPECS.values()}
    assert {n for n in names if n.endswith(".parquet")} == {f"{c}/{PARQUET}" for c in configs} | {
        f"without_tie/{c}/{PARQUET}" for c in configs
    }
    media = [n for n in names if n.startswith("media_data/")]
    assert len(media) == len(set(media))  # each path once
    pattern = re.compile(r"media_data/(\w+)/[0-9a-f]{16}(-[0-9a-f]{16})?\.[a-z0-9]+")
    assert all(pattern.fullmatch(n) and n.split("/")[1] in configs for n in media), media
    # Model names, as the rows give them and as the release's media files are named: none may show.
    models = fixture_release.model_names
    assert {"input", "TRELLIS"} <= models
    assert not [n for n in names if any(model.lower() in n.lower() for model in models)]
    assert {"manifest.json", "README.md"} <= set(names)
    assert info.files == len(names)
    assert infos["README.md"].compress_type == zipfile.ZIP_DEFLATED
    assert infos[f"text_to_image/{PARQUET}"].compress_type == zipfile.ZIP_STORED
    assert all(infos[n].compress_type == zipfile.ZIP_STORED for n in media)
    # Every media file is the original, byte for byte, or a remux the manifest names with its original.
    with zipfile.ZipFile(dest) as zf:
        remuxed = {f"media_data/{r['path']}": r for r in json.loads(zf.read("manifest.json"))["remuxed"]}
        for name in media:
            sha = hashlib.sha256(zf.read(name)).hexdigest()
            if name in remuxed:
                assert remuxed[name]["sha256"] == sha
                sha = remuxed[name]["original_sha256"]
            assert sha[:16] in Path(name).stem.split("-")
            assert MediaAsset.objects.filter(sha256=sha).exists()


def test_archive_info_describes_the_file_and_a_rebuild_is_byte_identical(imported, tmp_path):
    release = _freeze(imported)
    first, dest = _build(release, tmp_path, "one.zip")
    second, _ = _build(release, tmp_path, "two.zip")

    assert first.sha256 == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert first.size_bytes == dest.stat().st_size
    assert first == second
    assert not list(tmp_path.glob("*.part"))


def test_every_parquet_has_the_fixture_schema(imported, tmp_path, release_dir):
    _, dest = _build(_freeze(imported), tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    for spec in TASK_SPECS.values():
        expected = pq.read_schema(release_dir / spec.config / PARQUET)
        for path in (folder / spec.config / PARQUET, folder / "without_tie" / spec.config / PARQUET):
            schema = pq.read_schema(path)
            # T23D adds the columns that name each response's mesh (null without one).
            added = ["response1_mesh_path", "response2_mesh_path"] if spec.config == "text_to_3D" else []
            assert schema.names == expected.names + added, spec.config
            assert schema.types == expected.types + [pa.string()] * len(added), spec.config
            ours = json.loads(schema.metadata[b"huggingface"])
            theirs = json.loads(expected.metadata[b"huggingface"])
            strings = {name: {"dtype": "string", "_type": "Value"} for name in added}
            assert ours["info"]["features"] == {**theirs["info"]["features"], **strings}, spec.config


def test_rows_carry_pair_content_and_relative_paths_into_media_data(imported, fixture_release, tmp_path):
    _, dest = _build(_freeze(imported), tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    t2i = pq.read_table(folder / "text_to_image" / PARQUET).to_pylist()
    pair = Pair.objects.get(project=imported, external_id=t2i[0]["id"])
    assert (t2i[0]["model1"], t2i[0]["model2"], t2i[0]["source"]) == (pair.model1, pair.model2, pair.source)
    assert (t2i[0]["prompt"], t2i[0]["criteria"]) == (pair.prompt, pair.criterion)
    response1 = t2i[0]["response1"]
    assert response1["path"] == t2i[0]["response1_path"]
    assert hashlib.sha256(response1["bytes"]).hexdigest() == pair.response1_media.sha256
    assert (folder / "media_data" / response1["path"]).read_bytes() == response1["bytes"]

    # Video columns are paths, not embedded bytes.
    tv2t = pq.read_table(folder / "text_video_to_text" / PARQUET).to_pylist()
    for row in tv2t:
        pair = Pair.objects.get(project=imported, external_id=row["id"])
        video = folder / "media_data" / row["video"]
        assert hashlib.sha256(video.read_bytes()).hexdigest() == pair.input_media.sha256

    # A T23D mesh sits beside its render under the render's stem.
    with_glb = fixture_release.pairs["t23d_glb_then_render_only"]
    duck = Pair.objects.get(project=imported, external_id=with_glb)
    row = next(r for r in pq.read_table(folder / "text_to_3D" / PARQUET).to_pylist() if r["id"] == with_glb)
    render = PurePosixPath(row["response1_path"])
    mesh = folder / "media_data" / render.with_suffix(".glb")
    assert render.stem == f"{duck.response1_media.sha256[:16]}-{duck.response1_mesh.sha256[:16]}"
    assert hashlib.sha256(mesh.read_bytes()).hexdigest() == duck.response1_mesh.sha256


def test_datasets_loads_every_config_and_decodes_images(imported, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    _, dest = _build(_freeze(imported), tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    for spec in TASK_SPECS.values():
        loaded = datasets.load_dataset(
            "parquet",
            data_files=[str(folder / spec.config / PARQUET)],
            split="train",
            cache_dir=str(tmp_path / "cache"),
        )
        assert len(loaded) == Pair.objects.filter(project=imported, task=spec.task).count(), spec.config
    ti2i = datasets.load_dataset(
        "parquet", data_files=[str(folder / "text_image_to_image" / PARQUET)], split="train", cache_dir=str(tmp_path)
    )
    assert isinstance(ti2i.features["response2"], datasets.Image)
    first = ti2i[0]
    pair = Pair.objects.get(project=imported, external_id=first["id"])
    with pair.input_media.file.open("rb") as fh:
        expected = Image.open(io.BytesIO(fh.read())).size
    assert isinstance(first["image"], Image.Image)
    assert first["image"].size == expected

    # The README's configs make the unzipped folder loadable by config name, with both splits.
    by_config = datasets.load_dataset(str(folder), "text_to_image", cache_dir=str(tmp_path / "cache2"))
    assert set(by_config) == {"test", "test_without_tie"}
    assert len(by_config["test"]) == Pair.objects.filter(project=imported, task=Task.T2I).count()


def test_without_tie_holds_exactly_the_non_tie_rows(imported, fixture_release, tmp_path):
    t2i = fixture_release.ids("text_to_image")[:2]
    ties = {*t2i, fixture_release.ids("text_to_text")[0], fixture_release.ids("text_image_to_image")[0]}
    labels = {external_id: Label.TIE for external_id in ties}
    _, dest = _build(_freeze(imported, labels=labels), tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    for spec in TASK_SPECS.values():
        everything = pq.read_table(folder / spec.config / PARQUET).to_pylist()
        decided = pq.read_table(folder / "without_tie" / spec.config / PARQUET).to_pylist()
        assert [r["id"] for r in decided] == [r["id"] for r in everything if r["criteria_preference"] != "tie"]
        assert decided == [r for r in everything if r["criteria_preference"] != "tie"]
    all_ids = {r["id"] for r in pq.read_table(folder / "text_to_image" / PARQUET).to_pylist()}
    decided_ids = {r["id"] for r in pq.read_table(folder / "without_tie" / "text_to_image" / PARQUET).to_pylist()}
    assert all_ids - decided_ids >= set(t2i)


def test_a_task_whose_pairs_are_all_ties_still_gets_an_empty_without_tie_file(imported, tmp_path):
    labels = {p.external_id: Label.TIE for p in Pair.objects.filter(project=imported, task=Task.T2T)}
    _, dest = _build(_freeze(imported, labels=labels), tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    table = pq.read_table(folder / "without_tie" / "text_to_text" / PARQUET)
    assert table.num_rows == 0
    assert table.schema.names == pq.read_schema(folder / "text_to_text" / PARQUET).names


def test_the_release_label_wins_over_the_imported_one(imported, fixture_release, tmp_path):
    t2i = fixture_release.ids("text_to_image")[0]
    pair = Pair.objects.get(project=imported, external_id=t2i)
    flipped = Label.RESPONSE1 if pair.reference_label == Label.RESPONSE2 else Label.RESPONSE2
    _, dest = _build(_freeze(imported, labels={t2i: flipped}), tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    rows = pq.read_table(folder / "text_to_image" / PARQUET).to_pylist()
    assert next(r for r in rows if r["id"] == t2i)["criteria_preference"] == flipped
    with zipfile.ZipFile(dest) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert next(p for p in manifest["pairs"] if p["id"] == t2i)["label"] == flipped


def test_manifest_lists_every_pair_with_media_hashes_and_release_metadata(imported, tmp_path, curator):
    release = _freeze(imported, notes="First cut.", created_by=curator)
    _, dest = _build(release, tmp_path)

    with zipfile.ZipFile(dest) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist())
    assert manifest["project"] == {"slug": "bench", "name": "Bench"}
    assert (manifest["version"], manifest["created_by"], manifest["notes"]) == (1, "cora", "First cut.")
    assert manifest["created_at"] == release.created_at.isoformat()
    assert manifest["gate"] == release.gate
    assert {p["id"] for p in manifest["pairs"]} == set(
        Pair.objects.filter(project=imported).values_list("external_id", flat=True)
    )
    for entry in manifest["pairs"]:
        pair = Pair.objects.get(project=imported, external_id=entry["id"])
        assert (entry["task"], entry["source"], entry["majority_share"]) == (pair.task, "votes", 1.0)
        assert entry["votes"] == {entry["label"]: 3}
        assert {c: m.get("original_sha256", m["sha256"]) for c, m in entry["media"].items()} == _media_of(pair)
        for column, media in entry["media"].items():
            assert f"media_data/{media['path']}" in names, (entry["id"], column)


def test_manifest_created_by_is_null_without_a_publisher(imported, tmp_path):
    _, dest = _build(_freeze(imported), tmp_path)
    with zipfile.ZipFile(dest) as zf:
        assert json.loads(zf.read("manifest.json"))["created_by"] is None


def _front_matter(readme: str) -> str:
    assert readme.startswith("---\n")
    return readme.split("\n---\n", 1)[0].removeprefix("---\n") + "\n"


def test_readme_is_a_dataset_card_with_one_config_per_task(imported, fixture_release, tmp_path):
    imported.name = 'Bench: "omni" #1\nsecond line \u2028 \x85 é'
    imported.save()
    statistics = {
        "overall": {"alpha": {"value": 0.7412, "low": 0.7, "high": 0.78, "note": ""}, "votes": 153},
        "tasks": {"T2I": {"alpha": {"value": None, "low": None, "high": None, "note": "every vote agrees"}}},
    }
    _, dest = _build(_freeze(imported, version=3, statistics=statistics), tmp_path)
    with zipfile.ZipFile(dest) as zf:
        readme = zf.read("README.md").decode()

    header = _front_matter(readme)
    for spec in TASK_SPECS.values():
        assert f"- config_name: {spec.config}\n" in header
        assert f"    path: {spec.config}/test-*.parquet\n" in header
        assert f"    path: without_tie/{spec.config}/test-*.parquet\n" in header
    assert "license: other\n" in header
    assert f"pretty_name: {yaml_quote(imported.name + ' v3')}\n" in header
    assert "0.741" in readme and "every vote agrees" in readme
    assert "manifest.json" in readme and 'load_dataset(\n    "parquet"' in readme
    assert f"| T2I | `text_to_image` | {fixture_release.task_rows['T2I']} |" in readme
    try:
        import yaml
    except ImportError:
        return
    card = yaml.safe_load(header)
    assert card["pretty_name"] == f"{imported.name} v3"
    assert card["license"] == "other"
    assert "text-to-3d" in card["task_categories"]
    assert {c["config_name"] for c in card["configs"]} == {spec.config for spec in TASK_SPECS.values()}
    for config in card["configs"]:
        assert config["data_files"] == [
            {"split": "test", "path": f"{config['config_name']}/test-*.parquet"},
            {"split": "test_without_tie", "path": f"without_tie/{config['config_name']}/test-*.parquet"},
        ]


@pytest.mark.parametrize(
    "text",
    ["plain", 'quo"te', "back\\slash", "new\nline", "tab\t", "\x00\x07\x7f\x85", "\u2028\u2029\ufeff", "é😀: - #"],
)
def test_yaml_quote_is_valid_json_and_yaml(text):
    quoted = yaml_quote(text)
    assert json.loads(quoted) == text
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(f"key: {quoted}")["key"] == text


def test_only_the_tasks_present_are_configs(project, tmp_path):
    PairFactory.create_batch(3, project=project)
    _, dest = _build(_freeze(project), tmp_path)

    with zipfile.ZipFile(dest) as zf:
        names = zf.namelist()
        readme = zf.read("README.md").decode()
    assert sorted(n for n in names if n.endswith(".parquet")) == [
        f"text_to_text/{PARQUET}",
        f"without_tie/text_to_text/{PARQUET}",
    ]
    assert "config_name: text_to_image" not in readme and "- text-generation\n" in readme


def test_a_tampered_media_hash_fails_the_build_and_leaves_nothing(imported, fixture_release, tmp_path):
    release = _freeze(imported)
    t2a = fixture_release.ids("text_to_audio")[-1]
    tampered = ReleasePair.objects.get(release=release, external_id=t2a)
    tampered.media = {**tampered.media, "response2_media": "0" * 64}
    tampered.save()
    dest = tmp_path / "release.zip"

    with pytest.raises(ArchiveError, match=rf"{t2a}.*response2_media"):
        write_release_archive(release, dest)

    assert not dest.exists() and not dest.with_suffix(".part").exists()
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob("*.part"))


def test_a_deleted_pair_fails_the_build(imported, fixture_release, tmp_path):
    release = _freeze(imported)
    t2t = fixture_release.ids("text_to_text")[1]
    ReleasePair.objects.filter(release=release, external_id=t2t).update(pair=None)
    dest = tmp_path / "release.zip"

    with pytest.raises(ArchiveError, match=rf"{t2t}.*column pair"):
        write_release_archive(release, dest)
    assert not dest.exists() and not dest.with_suffix(".part").exists()


def test_a_stored_file_that_no_longer_matches_its_hash_fails_the_build(imported, fixture_release, tmp_path, settings):
    release = _freeze(imported)
    tv2t = fixture_release.ids("text_video_to_text")[0]
    pair = Pair.objects.get(project=imported, external_id=tv2t)
    stored = Path(settings.MEDIA_ROOT) / pair.input_media.file.name
    stored.write_bytes(stored.read_bytes()[:-1] + b"!")
    dest = tmp_path / "release.zip"

    with pytest.raises(ArchiveError, match=rf"{tv2t}.*input_media.*SHA-256"):
        write_release_archive(release, dest)
    assert not dest.exists() and not dest.with_suffix(".part").exists()


def test_a_release_media_record_missing_a_column_fails_the_build(imported, fixture_release, tmp_path):
    release = _freeze(imported)
    with_glb = fixture_release.pairs["t23d_glb_then_render_only"]
    frozen = ReleasePair.objects.get(release=release, external_id=with_glb)
    frozen.media = {k: v for k, v in frozen.media.items() if k != "response1_mesh"}
    frozen.save()

    with pytest.raises(ArchiveError, match=rf"{with_glb}.*response1_mesh"):
        write_release_archive(release, tmp_path / "release.zip")


def test_row_groups_are_bounded_by_rows_and_by_media_bytes(imported, fixture_release, tmp_path, monkeypatch):
    PairFactory.create_batch(150, project=imported)
    monkeypatch.setattr(archive, "ROW_GROUP_MEDIA_BYTES", 100_000)
    monkeypatch.setattr(archive, "TEXT_ROW_GROUP_ROWS", 70)  # 1,000 in production
    _, dest = _build(_freeze(imported), tmp_path)
    folder = _unzip(dest, tmp_path / "unzipped")

    # A config that embeds no media has groups of TEXT_ROW_GROUP_ROWS (here more than ROW_GROUP_ROWS, 64).
    text = pq.ParquetFile(folder / "text_to_text" / PARQUET).metadata
    rows = 150 + fixture_release.task_rows["T2T"]
    assert [text.row_group(i).num_rows for i in range(text.num_row_groups)] == [70, 70, rows - 140]
    images = pq.ParquetFile(folder / "text_image_to_image" / PARQUET)
    assert images.metadata.num_row_groups > 1
    for i in range(images.metadata.num_row_groups):
        group = images.read_row_group(i).to_pylist()
        # A group closes at the first row that reaches the bound: the rows before it stay under it.
        before_last = sum(len(r[c]["bytes"]) for r in group[:-1] for c in ("image", "response1", "response2"))
        assert before_last < 100_000


def test_the_build_reads_the_database_in_a_bounded_number_of_queries(
    imported, fixture_release, tmp_path, django_assert_max_num_queries
):
    PairFactory.create_batch(600, project=imported)
    release = Release.objects.select_related("project", "created_by").get(pk=_freeze(imported).pk)

    with django_assert_max_num_queries(8):
        info, _ = _build(release, tmp_path)
    assert info.pairs == 600 + fixture_release.total


@pytest.mark.s3
def test_a_release_is_built_into_s3_and_downloaded_through_a_presigned_url(
    project, curator, fixture_release, release_dir, settings, s3_settings, django_capture_on_commit_callbacks
):
    assert pair_import(project=project, data_path=release_dir).ok
    assert not (Path(settings.MEDIA_ROOT) / "assets").exists()  # every original is in the bucket
    for pair in Pair.objects.filter(project=project):  # the imported labels stand in for human gold answers
        pair_gold_set(pair=pair, label=pair.reference_label)

    with django_capture_on_commit_callbacks(execute=True):  # the build job runs as publishing commits
        release = release_publish(project=project, user=curator, bootstrap=10)
    release.refresh_from_db()
    assert release.status == "ready", release.error

    response = client_for(curator).get(reverse("releases:release_download", args=[project.slug, 1]))
    assert response.status_code == 302 and "X-Amz-Signature=" in response["Location"]
    fetched = requests.get(response["Location"], timeout=30)
    assert fetched.status_code == 200
    assert 'filename="bench-v1.zip"' in fetched.headers["Content-Disposition"]
    assert hashlib.sha256(fetched.content).hexdigest() == release.archive_sha256
    unsigned = response["Location"].split("?", 1)[0]
    assert requests.get(unsigned, timeout=30).status_code == 403  # the bucket is private

    with zipfile.ZipFile(io.BytesIO(fetched.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        for entry in manifest["pairs"]:
            for media in entry["media"].values():
                assert hashlib.sha256(zf.read(f"media_data/{media['path']}")).hexdigest() == media["sha256"]
    assert len(manifest["pairs"]) == fixture_release.total
