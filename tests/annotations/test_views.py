from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotations.models import ImportJob, ImportStatus, Pair
from annotations.services.pair_import import pair_import
from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, Rendition
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _urls(project, pair=None):
    urls = [
        reverse("annotations:project_detail", args=[project.slug]),
        reverse("annotations:import_start", args=[project.slug]),
    ]
    if pair is not None:
        urls.append(reverse("annotations:pair_detail", args=[project.slug, pair.id]))
    return urls


def test_anonymous_users_are_sent_to_sign_in(client, project):
    for url in [reverse("annotations:project_list"), *_urls(project)]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_outsiders_do_not_learn_the_project_exists(project, outsider, release_dir):
    pair_import(project=project, data_path=release_dir)
    client = client_for(outsider)
    for url in _urls(project, Pair.objects.first()):
        assert client.get(url).status_code == 404
    assert "Bench" not in client.get(reverse("annotations:project_list")).content.decode()


def test_annotators_never_see_the_curator_pages(project, annotator, release_dir):
    pair_import(project=project, data_path=release_dir)
    client = client_for(annotator)
    for url in _urls(project, Pair.objects.first()):
        assert client.get(url).status_code == 403
    listing = client.get(reverse("annotations:project_list")).content.decode()
    assert "Bench" in listing and f'href="{reverse("annotations:project_detail", args=[project.slug])}"' not in listing
    assert reverse("annotations:annotate", args=[project.slug]) in listing


def test_curator_sees_pairs_per_task_and_pair_detail(
    project, curator, fixture_release, release_dir, django_assert_max_num_queries
):
    pair_import(project=project, data_path=release_dir)
    client = client_for(curator)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("annotations:project_detail", args=[project.slug]) + "?task=T2V")
    html = page.content.decode()
    t2v = fixture_release.rows("text_to_video")[0]
    assert t2v["id"] in html and fixture_release.ids("text_to_image")[0] not in html
    pair = Pair.objects.get(external_id=t2v["id"])
    detail = client.get(reverse("annotations:pair_detail", args=[project.slug, pair.id])).content.decode()
    assert pair.criterion in html or pair.criterion[:40] in detail
    assert t2v["model1"] in detail  # curators see model names
    assert f'src="/media-files/{pair.response1_media_id}/"' in detail


def test_media_view_checks_membership_and_serves_ranges(
    project, curator, annotator, outsider, fixture_release, release_dir
):
    pair_import(project=project, data_path=release_dir)
    asset = Pair.objects.get(external_id=fixture_release.ids("text_to_video")[0]).response1_media
    url = reverse("media_pipeline:asset_file", args=[asset.id])
    original_url = reverse("media_pipeline:asset_rendition", args=[asset.id, "original"])
    assert client_for(outsider).get(url).status_code == 404
    with asset.file.open("rb") as fh:
        original = fh.read()
    # Not processed yet: curators browse the original, annotators get nothing.
    assert client_for(annotator).get(url).status_code == 404
    assert b"".join(client_for(curator).get(url).streaming_content) == original

    assert pipeline.run(asset.id) == AssetStatus.READY
    web = Rendition.objects.get(asset=asset, role="web")
    with web.file.open("rb") as fh:
        rendition = fh.read()
    whole = client_for(annotator).get(url)
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    assert b"".join(whole.streaming_content) == rendition
    # Originals may carry metadata naming the model: curators only.
    assert client_for(annotator).get(original_url).status_code == 404
    assert b"".join(client_for(curator).get(original_url).streaming_content) == original
    part = client_for(annotator).get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(rendition)}"
    assert part.content == rendition[100:200]
    tail = client_for(curator).get(url, HTTP_RANGE="bytes=-50")
    assert tail.content == rendition[-50:]
    assert client_for(curator).get(url, HTTP_RANGE=f"bytes={len(rendition) + 5}-").status_code == 416
    poster = client_for(annotator).get(reverse("media_pipeline:asset_rendition", args=[asset.id, "poster"]))
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"


def test_upload_import_runs_the_job_and_shows_the_summary(
    project, curator, fixture_release, release_zip, django_capture_on_commit_callbacks
):
    client = client_for(curator)
    with open(release_zip, "rb") as fh, django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("annotations:import_start", args=[project.slug]), {"data_file": fh})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.SUCCEEDED, job.message
    page = client.get(response["Location"]).content.decode()
    assert f"{fixture_release.total}</strong> new pairs" in page
    assert "TV2T" in page and "T23D" in page
    assert not job.data_file  # the upload is removed once imported
    partial = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="job-status"') and "<html" not in partial


def test_failed_upload_lists_problems(project, curator, django_capture_on_commit_callbacks):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        row = b'{"id": "a", "prompt": "p", "response1": "x", "response2": "y", "criteria_preference": "response1"}'
        zf.writestr("text_to_text/test.jsonl", row + b"\n")
    client = client_for(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("annotations:import_start", args=[project.slug]),
            {"data_file": SimpleUploadedFile("mine.zip", buf.getvalue())},
        )
    response = client.get(response["Location"])
    html = response.content.decode()
    assert "nothing was imported" in html
    assert "text_to_text/test.jsonl" in html and "criteria_preference" in html and "without a criterion" in html
    assert Pair.objects.count() == 0


def test_upload_size_limit_has_a_clear_message(project, curator, settings):
    settings.OMNI_IMPORT_MAX_UPLOAD_MB = 1
    client = client_for(curator)
    response = client.post(
        reverse("annotations:import_start", args=[project.slug]),
        {"data_file": SimpleUploadedFile("huge.jsonl", b"x" * (2 * 1024 * 1024))},
    )
    assert response.status_code == 400
    assert "huge.jsonl is 2 MB; uploads may be at most 1 MB" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_wrong_file_type_is_refused(project, curator):
    response = client_for(curator).post(
        reverse("annotations:import_start", args=[project.slug]),
        {"data_file": SimpleUploadedFile("notes.txt", b"hello")},
    )
    assert response.status_code == 400 and "expected a .zip, .jsonl, .parquet file" in response.content.decode()


def test_import_requires_csrf(project, curator, release_zip):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(curator)
    with open(release_zip, "rb") as fh:
        response = client.post(reverse("annotations:import_start", args=[project.slug]), {"data_file": fh})
    assert response.status_code == 403 and ImportJob.objects.count() == 0
