"""The graph's nodes: each does one step and returns a partial state update.

``resolve`` (who and what), ``recall`` (histories from memory, summarizing what is missing, and
the user's own review of the item if there is one), ``reason`` (Reasoner, streamed), ``predict``
(Predictor), ``recommend`` (candidates from memory, reasoned and rated a batch at a time), ``update``
(a new review into memory), ``profile``, ``respond``. Steps that take more than a moment stream
``progress`` events (history reviews summarized, candidates reasoned).
Every node runs inside :func:`_step`, which streams ``step_started``/``step_finished`` events
with timings and turns a failure into ``error`` in the state (the graph then goes to
``respond`` and ends cleanly) instead of an exception at the user.

Nodes are plain functions of ``(state, runtime)``, so a script can put them in its own graph
(see ``examples/``).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from ..config import Expert
from ..errors import Reason4RecError
from ..experts import (
    ChosenReason,
    DraftSettings,
    Estimates,
    Grounding,
    HistoryEntry,
    Messages,
    ReasonStream,
    SamplingBackend,
    TargetContext,
    better_drafts,
    grounding,
    ratings_for,
    reasoner_messages,
    reasons_for,
    shown_texts,
)
from ..memory import HistoryRecord, Match, Memory, item_names, items_for_need
from . import events
from .context import AgentContext
from .evidence import evidence_for
from .state import CollabView, DeliberationState, HistoryView, VerdictView

NodeResult = dict[str, Any]
AMBIGUITY_MARGIN = 0.03
"""An item description resolves to the best match only if it beats the next by this much."""
MIN_SIMILARITY = 0.25
"""Below this cosine similarity a description matches nothing."""


def _emit(event: dict[str, Any]) -> None:
    # RuntimeError: called outside a graph run (a node used directly): nothing to stream to
    with contextlib.suppress(RuntimeError):
        get_stream_writer()(event)


def _step(name: str) -> Callable:
    """Wrap a node: timing events, and errors a user can act on become ``state["error"]``."""

    def decorate(node: Callable[[DeliberationState, Runtime[AgentContext]], NodeResult]) -> Callable:
        @functools.wraps(node)
        def run(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
            _emit(events.step_started(name))
            started = time.perf_counter()
            try:
                if name != "respond":  # a cancelled turn still ends with an answer
                    runtime.context.check_cancelled()
                result = node(state, runtime)
                error = None
            except Reason4RecError as err:
                result, error = {"error": str(err)}, str(err)
            except OSError as err:  # ConnectionError, TimeoutError and socket errors among them
                error = f"the expert backend or memory is unreachable: {type(err).__name__}: {err}"
                result = {"error": error}
            seconds = time.perf_counter() - started
            _emit(events.step_finished(name, seconds, error))
            return {**result, "timings": {name: round(seconds, 4)}}

        return run

    return decorate


# --------------------------------------------------------------------------- resolve


@_step("resolve")
def resolve(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    """Check the user and the item; an item given in words is looked up in the memory."""
    memory, intent = runtime.context.memory, state["intent"]
    user, item = state.get("user_id"), state.get("item_id")
    check_request(memory, intent, user, item, state.get("like_item"))
    if intent == "recommend":
        return _like(memory, state.get("like_item"))
    if intent == "profile":
        return {}
    if item:
        return {"item_id": item, "item_title": memory.item_title(item), "item_name": memory.item_name(item)}
    described = state.get("item_query")
    if not described:
        raise _NeedInput("which item? give an item id or describe it")
    matches = memory.search_items(described, k=3)
    _emit(events.retrieved("resolve", "items", [_match_record(m) for m in matches]))
    good = [m for m in matches if m.similarity >= MIN_SIMILARITY]
    if not good:
        raise _NeedInput(f"no item in the memory matches {described!r}")
    if len(good) > 1 and good[0].similarity - good[1].similarity < AMBIGUITY_MARGIN:
        return {"candidates": [_match_record(m) for m in good],
                "error": f"{described!r} could mean several items: " + ", ".join(m.profile.entity_id for m in good)}
    best = good[0].profile.entity_id
    return {"item_id": best, "item_title": memory.item_title(best), "item_name": memory.item_name(best)}


def check_request(memory: Memory, intent: str, user: str | None, item: str | None = None,
                  like_item: str | None = None) -> None:
    """Refuse a turn whose user or item the memory does not know, with what to do: the graph's
    ``resolve`` step, and the command line before any expert loads (a typo in an id costs a
    second, not a model load)."""
    if not user:
        raise _NeedInput("who is asking? give a user id (for example with --user)")
    if intent != "add_review" and not memory.has_user(user):
        raise _NeedInput(f"unknown user {user!r}: the memory holds no review by this user yet; add one "
                         "first (`reason4rec memory add-review`)")
    if intent == "recommend" and like_item and not memory.has_item(like_item):
        raise _NeedInput(f"unknown item {like_item!r}: no review of it is stored, so nothing is known to be like it")
    if intent not in ("recommend", "profile", "add_review") and item and not memory.has_item(item):
        raise _NeedInput(f"unknown item {item!r}: no review of it is stored (describe it in words to search)")


def _like(memory: Memory, item: str | None) -> NodeResult:
    """The item a recommendation's need names (checked by :func:`check_request`); its title goes
    into the answer."""
    return {"like_title": memory.item_title(item)} if item else {}


class _NeedInput(Reason4RecError, ValueError):
    """The request cannot go on without something only the user can say."""


# --------------------------------------------------------------------------- recall


@_step("recall")
def recall(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    """The user's and the item's recent reviews as summaries (made now when missing or outdated),
    and the user's own review of the item, said first: the deliberation is then what the model
    would have predicted."""
    context, user, item = runtime.context, state["user_id"], state["item_id"]
    own = _own_review(context.memory, user, item)
    if own is not None:
        _emit(events.already_rated(own["rating"], own["date"]))
    return {**_recall(context, user, item), "already_rated": own,
            "collab": _collab_estimate(context, user, item, with_own_rating=own is not None)}


def _collab_estimate(context: AgentContext, user: str, item: str, *, with_own_rating: bool) -> CollabView:
    """What the memory's collaborative models say of this rating from the ratings alone
    (:class:`.state.CollabView`), refitted first, as a step of its own that says why, when they
    are missing or out of date. Recalled before the reason: the category's verdict rule reads it."""
    collab = context.memory.collab
    refits = collab.refits

    def fitting(label: str) -> Callable[[int, int], None]:
        started = time.perf_counter()
        return lambda done, total: _emit(events.step_started(label) if done < total
                                         else events.step_finished(label, time.perf_counter() - started))

    try:
        return {**collab.estimates(user, [item], progress=fitting)[item], "fitted_on": collab.state()["fitted_on"],
                "refit": collab.last_refit if collab.refits != refits else None, "with_own_rating": with_own_rating}
    except Exception as err:  # the models are a second opinion: the answer goes on without them, saying why
        return {"bias": None, "svdpp": None, "cold": None, "error": f"{type(err).__name__}: {err}"}


def _own_review(memory: Memory, user: str, item: str) -> dict[str, Any] | None:
    """The user's rating of ``item`` and its day (None when the timestamp is unknown), if any."""
    review = memory.review_of(user, item)
    if review is None:
        return None
    day = datetime.fromtimestamp(review.timestamp, tz=timezone.utc).date().isoformat() if review.timestamp > 0 else None
    return {"rating": review.rating, "date": day, "timestamp": review.timestamp}


def _recall(context: AgentContext, user: str, item: str) -> NodeResult:
    mine, theirs = _histories(context.memory, user, item)
    summaries = _current_summaries(context, _shown(context, mine, theirs), context.resummarize_lexicon)
    return _recalled(context, item, mine, theirs, summaries)


def _histories(memory: Memory, user: str, item: str) -> tuple[list[HistoryRecord], list[HistoryRecord]]:
    """The user's reviews of other items and the item's reviews by other users, oldest first."""
    mine = [r for r in memory.user_history(user) if r.review.item_id != item]
    theirs = [r for r in memory.item_history(item) if r.review.user_id != user]
    return mine, theirs


def _shown(context: AgentContext, mine: list[HistoryRecord], theirs: list[HistoryRecord]) -> list[HistoryRecord]:
    """The latest K of each history: the reviews the Reasoner is shown."""
    k = context.history_k
    return [*mine[-k:], *theirs[-k:]]


def _recalled(context: AgentContext, item: str, mine: list[HistoryRecord], theirs: list[HistoryRecord],
              summaries: dict[str, str]) -> NodeResult:
    """The histories as the experts see them (summaries, titles), streamed as ``retrieved``."""
    memory, k = context.memory, context.history_k
    user_view = [_view(r, summaries, memory.item_title(r.review.item_id)) for r in mine[-k:]]
    item_view = [_view(r, summaries, "a buyer") for r in theirs[-k:]]
    _emit(events.retrieved("recall", "user_history", user_view))
    _emit(events.retrieved("recall", "item_history", item_view))
    return {"user_history": user_view, "item_history": item_view, "user_mean": _mean(mine), "item_mean": _mean(theirs),
            "user_count": len(mine), "item_count": len(theirs), "item_title": memory.item_title(item)}


def _current_summaries(context: AgentContext, records: Sequence[HistoryRecord], outdated: bool) -> dict[str, str]:
    """Summary per review id; missing ones (and ``outdated`` ones: lexicon or an older Summarizer)
    made by the Summarizer now and kept in the memory, with progress (seconds per batch on a CPU)."""
    summarizer = context.summarizer
    version = summarizer.version()
    redo = [r.review for r in records if _remade(r, version if outdated else None)]
    found = {r.review.review_id: r.summary for r in records if r.summary is not None}
    if redo:
        _emit(events.step_started("summarize"))
        started = time.perf_counter()
        found.update(context.memory.resummarize(redo, summarizer,
                                                progress=_progress("summarize", len(redo), "history reviews")))
        _emit(events.step_finished("summarize", time.perf_counter() - started))
    return found


def _remade(record: HistoryRecord, version: str | None) -> bool:
    """Whether a question remakes this review's summary: it has none, or (``version`` given) it was
    made by another Summarizer or the lexicon."""
    return record.summary is None or (version is not None and record.version != version)


def _progress(step: str, total: int, unit: str) -> Callable[[int], None]:
    """A ``progress(count)`` callback streaming ``progress`` events; the first (0 done) at once."""
    done = 0
    _emit(events.progress(step, done, total, unit))

    def advance(count: int) -> None:
        nonlocal done
        done += count
        _emit(events.progress(step, done, total, unit))

    return advance


# --------------------------------------------------------------------------- reason, predict


@_step("reason")
def reason(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    """The Reasoner's why, streamed token by token."""
    context = runtime.context
    pieces: list[str] = []
    target = _as_experts_see(context, _target(state, context.category, context.reasoner_stars), state.get("collab"))
    closing = ReasonStream(lambda _row, piece: _emit(events.token("reason", piece)), [target])
    stream = context.backend.stream(Expert.REASONER, reasoner_messages(target))
    with contextlib.closing(stream):  # closing stops the generation (a cancelled turn)
        for piece in stream:
            context.check_cancelled()
            pieces.append(piece)
            closing.on_text(0, piece)
    closing.finish()
    [chosen] = _best_drafts(context, "reason", [target], ["".join(pieces)])  # finished there (better_drafts)
    if chosen.replaced:
        _emit(events.reason_revised(chosen.text, chosen.drafts, list(chosen.first_invented)))
    mine, theirs = _histories(context.memory, state["user_id"], state["item_id"])
    return {"reason": chosen.text, "reason_check": check_reason(chosen.text, target, chosen.drafts, chosen.found),
            "evidence": _evidence(context, chosen.text, mine, theirs),
            "verdict": _verdict_view(context, target, state.get("collab"))}


def _evidence(context: AgentContext, reason: str, mine: list[HistoryRecord], theirs: list[HistoryRecord]) -> dict:
    """The reviews ``reason`` rests on (:mod:`.evidence`): a memory look-up, no decoding."""
    memory = context.memory
    # one name look-up (a vector-store read) per item, however many sources quote it
    return evidence_for(reason, mine, theirs, shown=context.history_k, title_of=functools.cache(memory.item_name))


def _best_drafts(context: AgentContext, step: str, targets: list[TargetContext],
                 greedy: list[str]) -> list[ChosenReason]:
    """The greedy reasons, each replaced by a sampled draft that invents less where one does
    (``context.reason_drafts`` drafts for a greedy reason poorly grounded, more rounds of them for
    one still so; only on a backend that can sample), with progress. A cancel stops the drafts at their next
    token (a remote backend's: at its next finished draft)."""
    settings = DraftSettings(context.reason_drafts, context.reason_rounds, context.reason_temperature)
    if settings.drafts <= 1 or not isinstance(context.backend, SamplingBackend):
        return better_drafts(context.backend, targets, greedy, settings)
    total = 0
    context.check_cancelled()

    def another_round(more: int) -> None:
        nonlocal total
        _emit(events.progress(step, total, total + more, "drafts"))
        total += more

    chosen = better_drafts(context.backend, targets, greedy, settings,
                           on_text=lambda row, piece: context.check_cancelled(), on_round=another_round)
    if total:  # no progress at all where every greedy reason was kept without drafts
        _emit(events.progress(step, total, total, "drafts"))
    return chosen


def check_reason(reason: str, target: TargetContext, drafts: int = 1, found: Grounding | None = None) -> dict[str, Any]:
    """Which aspects the reason names that the Reasoner was never shown (the evaluation's measure).

    A small Reasoner invents ("bamboo", "AAC, MP4 and FLAC" for a microphone); a person reading
    the reason is told which of its aspects no review it saw mentions, even in the draft chosen
    as inventing least of ``drafts``. ``found``: the reason's grounding where the choice of
    drafts already measured it against the same shown texts.
    """
    found = grounding(reason, shown_texts(target)) if found is None else found
    share = found.share
    return {"grounding": None if share is None else round(share, 3), "invented": list(found.invented),
            "drafts": drafts}


@_step("predict")
def predict(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    """The Predictor's rating distribution, given the reason; beside it (never changing it) what
    the memory's collaborative models say from the ratings alone (recalled: :func:`_collab_estimate`)."""
    context = runtime.context
    estimate: CollabView = {**(state.get("collab") or {})}  # type: ignore[typeddict-item]
    target = _as_experts_see(context, _target(state, context.category, context.reasoner_stars), estimate)
    estimate["read_by_predictor"] = target.estimates is not None
    [distribution] = ratings_for(context.backend, [target], [state.get("reason")])
    rating = distribution.as_dict(context.calibration)
    _emit(events.rating(rating))
    return {"rating": rating, "collab": estimate}


# --------------------------------------------------------------------------- recommend


@_step("recommend")
def recommend(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    """Top-k: candidates from memory (unreviewed items of the kind the need asks for, ordered by the
    user's taste: :func:`~reason4rec.memory.items_for_need`; without a need in words, those whose
    profiles match the user's), shortlisted to k by what the collaborative models estimate (no
    decoding: :func:`_shortlist`), the k reasoned and rated (the first alone, so it is on screen
    within one reason's time; the rest in one batch), ranked by the Predictor's rating; a reason
    poorly grounded gets drafts (:func:`_redrafted`)."""
    context, user = runtime.context, state["user_id"]
    memory, like = context.memory, state.get("like_item")
    k = int(state.get("k") or 5)
    wanted, exclude = max(k, context.candidates), [like] if like else []
    need = _need(memory, state)
    if need:
        matches = items_for_need(memory, user, need, k=wanted, exclude=exclude)
    else:
        matches = memory.items_for_user(user, k=wanted, query=_steering(memory, state), exclude=exclude)
    _emit(events.retrieved("recommend", "candidates", [_match_record(m) for m in matches]))
    if not matches:
        return {"recommendations": []}
    matches, estimates = _shortlist(memory, user, matches, k)
    items = [m.profile.entity_id for m in matches]
    histories = [_histories(memory, user, item) for item in items]
    # History summaries are used as the memory has them; the missing ones are made in one pass
    # over every candidate, so the progress counts all that is left.
    shown = {r.review.review_id: r for mine, theirs in histories for r in _shown(context, mine, theirs)}
    summaries = _current_summaries(context, list(shown.values()), outdated=False)
    views = [{**_recalled(context, item, mine, theirs, summaries), "match": match, "records": (mine, theirs),
              "estimate": estimate}
             for item, match, estimate, (mine, theirs) in zip(items, matches, estimates, histories)]
    targets = [_as_experts_see(context, _target(view, context.category, context.reasoner_stars), view["estimate"])
               for view in views]
    reasons, distributions = _deliberate_candidates(context, targets, [{"id": item, "title": view["item_title"]}
                                                                       for item, view in zip(items, views)])
    top = sorted(zip(views, targets, reasons, distributions), key=lambda row: -row[3].expected)
    ranked = _redrafted(context, top)
    return {"recommendations": [{"item_id": view["match"].profile.entity_id, "item_title": view["item_title"],
                                 "item_name": memory.item_name(view["match"].profile.entity_id),
                                 "similarity": view["match"].similarity, "reason": pick.text,
                                 "rating": dist.as_dict(context.calibration),
                                 "collab": view["estimate"],
                                 "reason_check": check_reason(pick.text, target, pick.drafts, pick.found),
                                 "evidence": _evidence(context, pick.text, *view["records"]),
                                 "verdict": _verdict_view(context, target, view["estimate"])}
                                for view, target, pick, dist in ranked]}


def _shortlist(memory: Memory, user: str, matches: list[Match], k: int) -> tuple[list[Match], list[dict | None]]:
    """The ``k`` candidates the collaborative models rate highest (SVD++, else the bias model),
    ties and items they cannot estimate in the memory's order: only these are reasoned, so a
    recommendation pays for k reasons, not for every candidate. Without the models (a failure
    is said in a ``retrieved`` record) the memory's first k are kept. Returns the kept matches and
    each one's estimates."""
    ids = [m.profile.entity_id for m in matches]
    try:
        estimates = memory.collab.estimates(user, ids)
    except Exception as err:  # a second opinion: the memory's order stands without it
        _emit(events.retrieved("recommend", "shortlist", [{"error": f"{type(err).__name__}: {err}"}]))
        return matches[:k], [None] * len(matches[:k])

    def score(index: int) -> tuple[float, int]:
        found = estimates.get(ids[index]) or {}
        value = found.get("svdpp") if found.get("svdpp") is not None else found.get("bias")
        return (-(value if value is not None else float("-inf")), index)

    kept = sorted(range(len(matches)), key=score)[:k]
    _emit(events.retrieved("recommend", "shortlist", [{"item_id": ids[i], **(estimates.get(ids[i]) or {})}
                                                      for i in kept]))
    return [matches[i] for i in kept], [estimates.get(ids[i]) for i in kept]


def _redrafted(context: AgentContext, top: list[tuple[dict, TargetContext, str, Any]]) -> list[tuple]:
    """The kept candidates with their reasons redrafted (only these are read, so only these pay for
    drafts): a replaced reason is rated again and the kept ones are ranked again."""
    chosen = _best_drafts(context, "recommend", [row[1] for row in top], [row[2] for row in top])
    replaced = [i for i, pick in enumerate(chosen) if pick.replaced]
    for i in replaced:
        _emit(events.reason_revised(chosen[i].text, chosen[i].drafts, list(chosen[i].first_invented),
                                    candidate=top[i][0]["match"].profile.entity_id))
    again = ratings_for(context.backend, [top[i][1] for i in replaced], [chosen[i].text for i in replaced])
    ratings = [row[3] for row in top]
    for i, distribution in zip(replaced, again):
        ratings[i] = distribution
    rows = [(view, target, pick, rating) for (view, target, _, _), pick, rating in zip(top, chosen, ratings)]
    return sorted(rows, key=lambda row: -row[3].expected)


def _need(memory: Memory, state: DeliberationState) -> str | None:
    """What the candidates must be, in words: the need, or the title (else the label) of the item
    it names ("similar to the Snark tuner": items of its kind); None when there is no need, or the
    named item has no name (then :func:`_steering` steers by its profile)."""
    like = state.get("like_item")
    if like:
        return item_names(memory, [like]).get(like)
    return state.get("query") or None


def _steering(memory: Memory, state: DeliberationState) -> str | None:
    """The text candidates are steered by: the named item's profile (what buyers say of it, its
    title first) when the need names one, else the need itself."""
    like = state.get("like_item")
    found = memory.profile("item", like) if like else None
    return found.text if found is not None else state.get("query") or state.get("like_title")


def _deliberate_candidates(context: AgentContext, targets: list[TargetContext],
                           named: list[dict[str, str]]) -> tuple[list[str], list[Any]]:
    """Each candidate's why (streamed) and rating: the first candidate alone, so the first
    recommendation is on screen after one reason, then the rest a backend batch at a time; a
    ``progress`` event names each batch's candidates before it starts (the last says all are
    done) and a ``candidate_rated`` event follows each rating."""
    size = max(1, int(getattr(context.backend, "batch_size", 1)))
    reasons: list[str] = []
    ratings: list[Any] = []  # RatingDistribution
    for first, last in ((0, 1), (1, len(targets))):
        part = targets[first:last]
        if not part:
            continue

        def before_batch(start: int, offset: int = first, end: int = last) -> None:
            _emit(events.progress("recommend", offset + start, len(targets), "candidates",
                                  named[offset + start:min(offset + start + size, end)]))

        def on_text(row: int, text: str, offset: int = first) -> None:
            context.check_cancelled()  # raised inside generate(): the batch stops at this token
            _emit(events.token("reason", text, named[offset + row]["id"]))

        written = reasons_for(context.backend, part, batch_size=size, on_text=on_text, before_batch=before_batch)
        rated = ratings_for(context.backend, part, written)
        for row, distribution in enumerate(rated):
            _emit(events.candidate_rated(named[first + row]["id"], distribution.as_dict(context.calibration)))
        reasons += written
        ratings += rated
    _emit(events.progress("recommend", len(targets), len(targets), "candidates"))
    return reasons, ratings


# --------------------------------------------------------------------------- update, profile


@_step("update")
def update(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    """Write a new review to memory (idempotent: a re-run after a resume changes nothing)."""
    review = state.get("review") or {}
    if "rating" not in review or "text" not in review:
        raise _NeedInput("a review needs a rating (1-5) and some text")
    result = runtime.context.add_review(state["user_id"], state["item_id"], review["rating"], review["text"],
                                        title=review.get("title") or "", item_title=review.get("item_title"))
    return {"update": {"review_id": result.review.review_id, "outcome": result.outcome, "pending": result.pending,
                       "summary": result.summary, "error": result.error}}


@_step("profile")
def profile(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    memory, user = runtime.context.memory, state["user_id"]
    found = memory.profile("user", user)
    recent = memory.user_history(user, 5)
    return {"profile": {"user_id": user, "text": found.text if found else None,
                        "likes": list(found.likes) if found else [], "dislikes": list(found.negative) if found else [],
                        "review_count": memory.review_count(user),
                        "recent": [{"item_id": r.review.item_id, "item_title": memory.item_title(r.review.item_id),
                                    "item_name": memory.item_name(r.review.item_id),
                                    "rating": r.review.rating, "summary": r.summary} for r in recent]}}


# --------------------------------------------------------------------------- respond


@_step("respond")
def respond(state: DeliberationState, runtime: Runtime[AgentContext]) -> NodeResult:
    """The answer in Markdown, from whatever the turn produced (or the error it met)."""
    from .answers import compose

    return {"answer": compose(state)}


# --------------------------------------------------------------------------- helpers


def user_prefix(context: AgentContext, user: str) -> Messages | None:
    """The Reasoner's prompt for ``user`` with no item yet: the user's part, first in the prompt,
    is what every question of theirs shares. Built from the summaries the memory holds (None when
    one is missing or would be remade by the question, as :func:`_current_summaries` decides:
    warming never runs the Summarizer)."""
    memory = context.memory
    records = memory.user_history(user)[-context.history_k:]
    version = context.summarizer.version() if context.resummarize_lexicon else None
    if not records or any(_remade(r, version) for r in records):
        return None
    summaries = {r.review.review_id: r.summary or "" for r in records}
    view = [_view(r, summaries, memory.item_title(r.review.item_id)) for r in records]
    return reasoner_messages(_target({"user_history": view, "user_mean": _mean(records), "user_count": len(records)},
                                     context.category, context.reasoner_stars))


def _target(state: dict[str, Any], category: str, reasoner_stars: bool = False) -> TargetContext:
    """The pair as the experts see it; ``reasoner_stars``: the Reasoner learnt with the stars."""
    entries = lambda views: tuple(HistoryEntry(v["title"], v["rating"], v["summary"]) for v in views)  # noqa: E731
    return TargetContext(category=category, item_title=state.get("item_title") or state.get("item_id") or "",
                         user_history=entries(state.get("user_history") or []),
                         item_history=entries(state.get("item_history") or []),
                         user_mean=state.get("user_mean"), item_mean=state.get("item_mean"),
                         user_count=state.get("user_count") or 0, item_count=state.get("item_count") or 0,
                         reasoner_stars=reasoner_stars)


def _as_experts_see(context: AgentContext, target: TargetContext,
                    estimate: Mapping[str, Any] | None) -> TargetContext:
    """The target with what the collaborative estimates give the experts, never when they were
    fitted on the user's own rating of this very item: the Predictor reads them when it learnt
    with them; the Reasoner is told the verdict where the category's verdict rule says "no"."""
    usable = bool(estimate) and not estimate.get("with_own_rating") and estimate.get("bias") is not None
    if not usable:
        return target
    rule = context.verdict_rule
    if rule is not None and rule.says_no(float(estimate["bias"])):
        target = replace(target, verdict_from_ratings=True)
    if context.predictor_estimates and estimate.get("svdpp") is not None:
        target = replace(target, estimates=Estimates(float(estimate["bias"]), float(estimate["svdpp"]),
                                                     estimate.get("cold")))
    return target


def _verdict_view(context: AgentContext, target: TargetContext, estimate: Mapping[str, Any] | None) -> VerdictView:
    """Where the reason's verdict came from, for a person and ``--json``."""
    rule = context.verdict_rule
    return {"source": "ratings" if target.verdict_from_ratings else "reasoner",
            "threshold": rule.threshold if rule is not None else None,
            "estimate": (estimate or {}).get("bias")}


def _view(record: HistoryRecord, summaries: dict[str, str], title: str) -> HistoryView:
    review = record.review
    return HistoryView(review_id=review.review_id, user_id=review.user_id, item_id=review.item_id, title=title,
                       rating=review.rating, summary=summaries.get(review.review_id) or "none")


def _mean(records: Sequence[HistoryRecord]) -> float | None:
    return round(sum(r.review.rating for r in records) / len(records), 3) if records else None


def _match_record(match) -> dict[str, Any]:
    return {"id": match.profile.entity_id, "title": match.profile.title or None, "similarity": match.similarity,
            "profile": match.profile.text, "reviews": match.profile.review_count,
            "mean_rating": match.profile.mean_rating}
