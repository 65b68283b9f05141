import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotations.models import Judgment, Label, ShownOrder, Task
from tests.factories import PairFactory, UserFactory

pytestmark = pytest.mark.django_db


def _judge(pair, user, **kw):
    defaults = {"label": Label.RESPONSE1, "shown_order": ShownOrder.RESPONSE1_LEFT, "time_spent_ms": 1200}
    return Judgment.objects.create(pair=pair, annotator=user, **{**defaults, **kw})


def _violates(make) -> bool:
    try:
        with transaction.atomic():
            make()
    except IntegrityError:
        return True
    return False


def test_one_live_judgment_per_annotator_and_pair_but_undo_keeps_history():
    pair, user = PairFactory(), UserFactory()
    first = _judge(pair, user)
    assert _violates(lambda: _judge(pair, user, label=Label.TIE))
    first.retracted_at = timezone.now()
    first.save()
    _judge(pair, user, label=Label.TIE)
    assert pair.judgments.count() == 2
    assert pair.judgments.filter(retracted_at__isnull=True).get().label == Label.TIE


@pytest.mark.parametrize(
    "field, value",
    [("label", "A"), ("shown_order", "LR")],
)
def test_judgment_values_are_checked_by_the_database(field, value):
    pair, user = PairFactory(), UserFactory()
    assert _violates(lambda: _judge(pair, user, **{field: value}))


def test_pair_constraints():
    pair = PairFactory()
    assert _violates(lambda: PairFactory(project=pair.project, external_id=pair.external_id))
    assert _violates(lambda: PairFactory(task="T9X"))
    assert _violates(lambda: PairFactory(criterion=""))
    assert _violates(lambda: PairFactory(reference_label="both"))
    assert _violates(lambda: PairFactory(response1_text=None))  # neither text nor media
    assert not _violates(lambda: PairFactory(project=PairFactory().project, external_id=pair.external_id))


def test_mesh_only_on_3d_pairs():
    from media_pipeline.models import MediaAsset

    mesh = MediaAsset.objects.create(
        sha256="a" * 64, kind="mesh", extension="glb", file="assets/aa/x.glb", size_bytes=3
    )
    assert _violates(lambda: PairFactory(task=Task.T2T, response1_mesh=mesh))
    img = MediaAsset.objects.create(
        sha256="b" * 64, kind="image", extension="png", file="assets/bb/x.png", size_bytes=3
    )
    PairFactory(task=Task.T23D, response1_text=None, response1_media=img, response1_mesh=mesh,
                response2_text=None, response2_media=img)  # fmt: skip


def test_media_asset_constraints():
    from media_pipeline.models import MediaAsset

    assert _violates(
        lambda: MediaAsset.objects.create(sha256="abc", kind="image", extension="png", file="f", size_bytes=1)
    )
    assert _violates(
        lambda: MediaAsset.objects.create(sha256="c" * 64, kind="pdf", extension="pdf", file="f", size_bytes=1)
    )
