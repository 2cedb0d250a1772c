"""The answer of a turn in Markdown: what a person reads at the end of a deliberation.

Example:
    >>> compose({"intent": "explain", "error": "unknown user 'x'"})
    "**Sorry:** unknown user 'x'"
"""

from __future__ import annotations

from typing import Any

from ..memory.store import item_label
from .state import DeliberationState


def compose(state: DeliberationState) -> str:
    if state.get("error"):
        text = f"**Sorry:** {state['error']}"
        if state.get("candidates"):
            text += "\n\nWhich one did you mean?\n" + "\n".join(
                f"- `{c['id']}`: {c['profile']}" for c in state["candidates"])
        return text
    intent = state["intent"]
    if intent in ("explain", "predict"):
        return _deliberation(state)
    if intent == "recommend":
        return _recommendations(state)
    if intent == "add_review":
        return _update(state)
    return _profile(state)


def rated_sentence(rating: float, date: str | None) -> str:
    """What a person is told first about an item they reviewed already."""
    stars = f"{rating:g} star" + ("" if rating == 1 else "s")
    return f"You rated it {stars} on {date}." if date else f"You rated it {stars} already."


def _deliberation(state: DeliberationState) -> str:
    rating, name = state.get("rating") or {}, item_label(state.get("item_id") or "", state.get("item_title"))
    expected = rating.get("expected")
    verdict = ("should suit" if expected >= 4 else "might suit" if expected >= 3 else "is unlikely to suit") \
        if expected is not None else "was not rated for"
    own = state.get("already_rated")
    lines = [f"**{rated_sentence(own['rating'], own.get('date'))}** "
             "What the model would have predicted without your review:", ""] if own else []
    lines += [f"**{name}** {verdict} **{state['user_id']}**" + (f": predicted **{expected:.2f}** / 5 "
                                                                 f"(confidence {rating['confidence']:.2f})."
                                                                 if expected is not None else ".")]
    if state.get("intent") == "explain" and state.get("reason"):
        lines += ["", f"> {state['reason']}"]
        if invented := _invented(state.get("reason_check")):
            lines += ["", f"*{invented}*"]
    return "\n".join(lines)


def _invented(check: dict[str, Any] | None) -> str:
    """A warning naming the reason's aspects that no review the Reasoner was shown mentions."""
    found = (check or {}).get("invented") or []
    if not found:
        return ""
    more = f" and {len(found) - 6} more" if len(found) > 6 else ""
    return f"Not in the reviews it was shown: {', '.join(found[:6])}{more}."


def _recommendations(state: DeliberationState) -> str:
    found, need = state.get("recommendations") or [], _need(state)
    if not found:
        return f"No unreviewed item in the memory matches **{state['user_id']}**{need} yet."
    lines = [f"Top {len(found)} for **{state['user_id']}**{need}:", ""]
    for rank, item in enumerate(found, 1):
        invented = _invented(item.get("reason_check"))
        lines.append(f"{rank}. **{item_label(item['item_id'], item.get('item_title'))}**: "
                     f"{item['rating']['expected']:.2f} / 5. {item['reason']}"
                     + (f" *({invented})*" if invented else ""))
    return "\n".join(lines)


def _need(state: DeliberationState) -> str:
    """The need a recommendation served, as its header says it: the words asked, the item whose
    profile steered it, or the user's own profile."""
    like = item_label(state["like_item"], state.get("like_title")) if state.get("like_item") else None
    words = state.get("query") or (f"similar to {like}" if like else None)
    if not words:
        return ", by their profile"
    steered = f" (steered by the profile of {like})" if like and like not in words else ""
    return f", for: *{words}*{steered}"


def _update(state: DeliberationState) -> str:
    update: dict[str, Any] = state.get("update") or {}
    said = {"created": "Saved", "unchanged": "Already saved", "replaced": "Updated (the old review is kept)"}
    item = item_label(state["item_id"], (state.get("review") or {}).get("item_title") or state.get("item_title"))
    text = f"{said.get(update.get('outcome'), 'Saved')}: review of **{item}** by **{state['user_id']}**."
    if update.get("pending"):
        return text + f" Its summary is pending ({update.get('error')}); `reason4rec memory sync` will finish it."
    return text + " Memory updated: " + " / ".join((update.get("summary") or "").splitlines())


def _profile(state: DeliberationState) -> str:
    profile: dict[str, Any] = state.get("profile") or {}
    if not profile.get("text"):
        return f"**{profile.get('user_id')}** has reviews waiting to be summarized; try again after a sync."
    lines = [f"**{profile['user_id']}** ({profile['review_count']} reviews): {profile['text']}", ""]
    lines += [f"- {item_label(r['item_id'], r.get('item_title'))} ({r['rating']:g} stars): "
              + " / ".join((r["summary"] or "pending").splitlines())
              for r in profile.get("recent", [])]
    return "\n".join(lines)
