"""Who may fetch an asset. The pipeline knows files, not people: the app that shows assets in projects
decides (annotations registers its rule in AnnotationsConfig.ready). Without a rule nobody may."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser, User

CURATOR = "curator"  # may fetch originals, and files not processed yet
# (user, asset id) -> "curator", "annotator", or None: no access.
AssetRule = Callable[[User | AnonymousUser, int], str | None]
_rules: list[AssetRule] = []


def decide_asset_access(rule: AssetRule) -> None:
    if rule not in _rules:
        _rules.append(rule)


def asset_access(user: User | AnonymousUser, asset_id: int) -> str | None:
    roles = {role for rule in _rules if (role := rule(user, asset_id))}
    return CURATOR if CURATOR in roles else next(iter(roles), None)
