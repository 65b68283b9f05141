from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.db import transaction

from annotations.models import Judgment, Label, Membership, Pair, Project, Role, ShownOrder, Task
from annotations.services.tallies import tally_vote
from media_pipeline.models import AssetStatus, MediaAsset


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class MediaAssetFactory(factory.django.DjangoModelFactory):
    """A processed asset's row (no file is written: for tests of what the database says about media)."""

    class Meta:
        model = MediaAsset

    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    kind = "image"
    extension = "png"
    file = factory.LazyAttribute(lambda asset: f"assets/{asset.sha256[:2]}/{asset.sha256}.{asset.extension}")
    size_bytes = 10
    status = AssetStatus.READY


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pair

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"pair-{n}")
    task = Task.T2T
    prompt = "Explain recursion."
    criterion = "Prefer the shorter answer."
    response1_text = "A function calling itself."
    response2_text = "Recursion is when a function calls itself until a base case stops it."
    model1 = "model-a"
    model2 = "model-b"


class JudgmentFactory(factory.django.DjangoModelFactory):
    """A stored vote, counted into its pair's tally as the queue's vote does (`tally_vote`)."""

    class Meta:
        model = Judgment

    pair = factory.SubFactory(PairFactory)
    annotator = factory.SubFactory(UserFactory)
    label = Label.RESPONSE1
    shown_order = ShownOrder.RESPONSE1_LEFT
    time_spent_ms = 1000

    @classmethod
    def _create(cls, model_class: type[Judgment], *args: Any, **kwargs: Any) -> Judgment:
        with transaction.atomic():
            judgment = super()._create(model_class, *args, **kwargs)
            if judgment.retracted_at is None:
                tally_vote(
                    project_id=judgment.pair.project_id,
                    annotator_id=judgment.annotator_id,
                    pair_id=judgment.pair_id,
                    label=judgment.label,
                    shown_order=judgment.shown_order,
                    tie_kind=judgment.tie_kind,
                    delta=1,
                )
        return judgment
