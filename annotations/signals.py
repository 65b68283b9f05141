"""Keep the queue's slot counts right when rows they count are deleted outside the queue."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from .services.queue import release_user


@receiver(pre_delete, sender=User, dispatch_uid="annotations.release_user")
def _release_reservations(sender: type[User], instance: User, **kwargs: Any) -> None:
    release_user(instance)
