import factory
from django.contrib.auth import get_user_model

from annotations.models import Membership, Pair, Project, Role, Task


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
