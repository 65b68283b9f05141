"""Curators' writes about label quality: the gate rule, gold answers, adjudications."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import Judgment, Label, Pair, Project
from annotations.services.tallies import hold_votes, standing_refresh

from ..models import Adjudication, Decision, GateRule, TiePolicy


def gate_rule_update(
    *,
    project: Project,
    user: User,
    min_votes: int,
    min_majority_share: float,
    tie_policy: str,
    min_gold_accuracy: float | None,
    min_gold_judged: int,
) -> GateRule:
    errors: dict[str, str] = {}
    if min_votes < 1:
        errors["min_votes"] = "Minimum votes must be at least 1."
    elif min_votes > project.votes_per_pair:
        errors["min_votes"] = (
            f"Minimum votes is {min_votes}, but the queue stops at {project.votes_per_pair} votes per pair "
            "(the project's overlap); no pair would ever be decided."
        )
    if not 0.5 < min_majority_share <= 1:
        errors["min_majority_share"] = (
            "The majority share must be above 0.5 and at most 1 (e.g. 0.67 for two of three)."
        )
    if tie_policy not in TiePolicy.values:
        errors["tie_policy"] = f"Tie handling must be one of: {', '.join(TiePolicy.values)}."
    if min_gold_accuracy is not None and not 0 <= min_gold_accuracy <= 1:
        errors["min_gold_accuracy"] = "The gold accuracy bar must be between 0 and 1 (e.g. 0.8), or empty for none."
    if min_gold_judged < 1:
        errors["min_gold_judged"] = "The quality bar needs at least 1 judged gold pair to apply."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        hold_votes()  # the bar may move annotators across it: before any row is locked
        rule, _ = GateRule.objects.update_or_create(
            project=project,
            defaults={
                "min_votes": min_votes,
                "min_majority_share": min_majority_share,
                "tie_policy": tie_policy,
                "min_gold_accuracy": min_gold_accuracy,
                "min_gold_judged": min_gold_judged,
                "updated_by": user,
            },
        )
        standing_refresh(project_id=project.pk)  # the bar may move annotators across it
    return rule


def pair_gold_set(*, pair: Pair, label: str | None) -> Pair:
    """Make a pair gold with a known answer, or (label None) an ordinary pair again."""
    if label is not None and label not in Label.values:
        raise ValidationError({"gold_label": f"The gold answer must be one of: {', '.join(Label.values)}."})
    with transaction.atomic():
        hold_votes()  # the pair's voters may cross the bar: before any row is locked
        Pair.objects.filter(pk=pair.pk).update(gold_label=label)
        # The pair's voters' gold records change with it, and so may their standing against the bar.
        voters = Judgment.objects.filter(pair=pair, retracted_at__isnull=True).values_list("annotator_id", flat=True)
        standing_refresh(project_id=pair.project_id, annotator_ids=list(voters))
    pair.gold_label = label
    return pair


def adjudication_decide(*, pair: Pair, user: User, decision: str, note: str = "") -> Adjudication:
    """Record a curator's decision on a pair; it overrides the votes until a later decision replaces it."""
    if decision not in Decision.values:
        raise ValidationError({"decision": f"The decision must be one of: {', '.join(Decision.values)}."})
    if len(note) > 5000:
        raise ValidationError({"note": "The note is limited to 5,000 characters."})
    with transaction.atomic():
        return Adjudication.objects.create(pair=pair, decision=decision, note=note.strip(), decided_by=user)
