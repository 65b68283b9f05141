"""An annotator's turn: their progress and the next pair reserved for them, as the workspace page and
the REST API both serve it (one computation, two renderings)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import User

from ..models import Pair, Project
from ..selectors import Side, pair_sides, waiting_for_media
from .media_ready import pairs_media_refresh_waiting
from .queue import GATED_VIEWERS, Progress, next_assignment, progress_for, response_viewer


@dataclass(frozen=True)
class ShownPair:
    pair: Pair
    sides: tuple[Side, Side]
    viewer: str
    must_view_share: float | None  # set when votes wait until both sides were seen (played, orbited)
    tie_kinds: bool

    @property
    def gated(self) -> bool:
        return self.must_view_share is not None


@dataclass(frozen=True)
class QueueTurn:
    progress: Progress
    shown: ShownPair | None = None
    submission_id: uuid.UUID | None = None  # a vote carries it back: a retried request stores one judgment
    waiting_for_media: int = 0

    @property
    def done(self) -> bool:
        return self.shown is None


def queue_turn(project: Project, user: User) -> QueueTurn:
    """The annotator's next pair, reserved for them (the same one until they vote, skip or it expires)."""
    progress = progress_for(project, user)
    assignment = next_assignment(project, user, done=progress.done)
    if assignment is None:
        waiting = waiting_for_media(project)
        if not (waiting.exists() and pairs_media_refresh_waiting(waiting)):
            return QueueTurn(progress, waiting_for_media=waiting.count())
        # A missed readiness refresh held pairs back: look again.
        progress = progress_for(project, user)
        assignment = next_assignment(project, user, done=progress.done)
        if assignment is None:
            return QueueTurn(progress, waiting_for_media=waiting.count())
    pair = assignment.pair
    viewer = response_viewer(pair)
    share = project.must_view_share if viewer in GATED_VIEWERS else None
    sides = pair_sides(pair, swapped=assignment.swapped)
    return QueueTurn(progress, ShownPair(pair, sides, viewer, share, project.tie_kinds), uuid.uuid4())
