"""The answer of a turn in Markdown: what a person reads at the end of a deliberation.

Example:
    >>> compose({"intent": "explain", "error": "unknown user 'x'"})
    "**Sorry:** unknown user 'x'"
"""

from __future__ import annotations

import re
from typing import Any

from ..memory import item_label
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


def shown_rating(rating: dict[str, Any]) -> float:
    """The rating a person is shown: the category's calibrated one where there is one, else the
    Predictor's expected rating."""
    return float(rating.get("rating", rating["expected"]))


def rating_headline(rating: dict[str, Any], mark: str = "") -> str:
    """``predicted 3.85 / 5 (confidence 0.40)``, saying where a calibration changed the Predictor's
    number; ``mark`` goes either side of the rating (``**`` in Markdown).

    Example:
        >>> rating_headline({"expected": 4.45, "rating": 3.85, "confidence": 0.4,
        ...                  "calibration": {"category": "Magazines", "applied": True}})
        "predicted 3.85 / 5 (the Predictor's 4.45, calibrated for Magazines; confidence 0.40)"
    """
    calibration = rating.get("calibration") or {}
    note = (f"the Predictor's {rating['expected']:.2f}, calibrated for {calibration['category']}; "
            if calibration.get("applied") else "")
    return f"predicted {mark}{shown_rating(rating):.2f}{mark} / 5 ({note}confidence {rating['confidence']:.2f})"


def rated_sentence(rating: float, date: str | None) -> str:
    """What a person is told first about an item they reviewed already."""
    stars = f"{rating:g} star" + ("" if rating == 1 else "s")
    return f"You rated it {stars} on {date}." if date else f"You rated it {stars} already."


def _deliberation(state: DeliberationState) -> str:
    rating = state.get("rating") or {}
    name = state.get("item_name") or item_label(state.get("item_id") or "", state.get("item_title"))
    expected = shown_rating(rating) if rating else None
    verdict = ("should suit" if expected >= 4 else "might suit" if expected >= 3 else "is unlikely to suit") \
        if expected is not None else "was not rated for"
    if verdict == "should suit" and (state.get("verdict") or {}).get("source") == "ratings":
        verdict = "might suit"  # never "should suit" above a reason that says it is a poor match
    own = state.get("already_rated")
    lines = [f"**{rated_sentence(own['rating'], own.get('date'))}** "
             "What the model would have predicted without your review:", ""] if own else []
    lines += [f"**{name}** {verdict} **{state['user_id']}**"
              + (f": {rating_headline(rating, mark='**')}."
                 if expected is not None else ".")]
    if collab := collab_line(state.get("collab")):
        lines += ["", collab]
    if state.get("intent") == "explain" and state.get("reason"):
        lines += ["", f"> {about_item(state['reason'], name, state.get('item_id') or '')}"]
        if invented := _invented(state.get("reason_check")):
            lines += ["", f"*{invented}*"]
        if said := verdict_line(state.get("verdict")):
            lines += ["", said]
        lines += evidence_lines(state.get("evidence"))
    return "\n".join(lines)


def verdict_line(verdict: dict[str, Any] | None) -> str:
    """Where the reason's "poor match" came from when the ratings gave it (the category's verdict
    rule), in words a person can check against the line above it; empty when the verdict is the
    Reasoner's own.

    Example:
        >>> print(verdict_line({"source": "ratings", "threshold": 3.93, "estimate": 3.41}))
        ... # doctest: +NORMALIZE_WHITESPACE
        *A poor match by the ratings: the ratings alone give 3.41 stars, at or below 3.93, the middle
        estimate of this category's 1-2 star ratings; the Reasoner wrote why.*
    """
    if not verdict or verdict.get("source") != "ratings":
        return ""
    return (f"*A poor match by the ratings: the ratings alone give {verdict['estimate']:.2f} stars, at or below "
            f"{verdict['threshold']:.2f}, the middle estimate of this category's 1-2 star ratings; the Reasoner "
            "wrote why.*")


def about_item(reason: str, name: str, item_id: str) -> str:
    """The reason naming its item once: the Reasoner writes "this item", a person reads "this
    capo" (the item's label or short title; a long title or a bare id leaves the reason as written).

    Example:
        >>> about_item("Other buyers of this item praise the clip.", "capo (B0001)", "B0001")
        'Other buyers of this capo praise the clip.'
    """
    label = name.removesuffix(f" ({item_id})").strip() if item_id else name.strip()
    if not label or label == item_id or len(label) > 40 or len(label.split()) > 5:
        return reason
    return re.sub(r"\bthis item\b", lambda _: f"this {label}", reason, count=1, flags=re.IGNORECASE)


_COLD = {"user": "new user: item side only", "item": "new item: user side only",
         "both": "new user and item: the global mean only"}


def collab_line(collab: dict[str, Any] | None) -> str:
    """One line of what the ratings alone say (the memory's bias model and SVD++), in words a
    person can check: the bias estimate's parts (the ratings' mean, how far this user's and this
    item's ratings sit from it), naming a side the models never saw; empty when the turn has no
    estimates.

    Example:
        >>> print(collab_line({"bias": 4.21, "svdpp": 4.4, "cold": "user", "mean": 4.36, "user_offset": None,
        ...                    "item_offset": -0.15}))  # doctest: +NORMALIZE_WHITESPACE
        *From the ratings alone: 4.21 stars (the average rating 4.36; this item is rated 0.15 below it),
        4.40 by users of similar taste (SVD++); new user: item side only.*
    """
    if not collab:
        return ""
    if collab.get("error"):
        return f"*Estimates from the ratings unavailable: {_md(collab['error'])}.*"
    if collab.get("bias") is None:
        return "*From the ratings alone: nothing yet, the memory holds no rating.*"
    notes = [_COLD[collab["cold"]]] if collab.get("cold") in _COLD else []
    notes += ["fitted with your own rating of it"] if collab.get("with_own_rating") else []
    notes += ["the Predictor read these"] if collab.get("read_by_predictor") else []
    said = "".join(f"; {note}" for note in notes)
    return (f"*From the ratings alone: {collab['bias']:.2f} stars{_bias_parts(collab)}, "
            f"{collab['svdpp']:.2f} by users of similar taste (SVD++){said}.*")


def _bias_parts(collab: dict[str, Any]) -> str:
    """" (the average rating 4.36; this user rates 0.10 above it, this item is rated 0.15 below it)"."""
    if collab.get("mean") is None:
        return " by this user's and this item's averages"
    sides = [f"{who} {abs(offset):.2f} {'above' if offset > 0 else 'below'} it"
             for who, offset in (("this user rates", collab.get("user_offset")),
                                 ("this item is rated", collab.get("item_offset")))
             if offset is not None and round(offset, 2) != 0]
    return f" (the average rating {collab['mean']:.2f}" + (f"; {', '.join(sides)})" if sides else ")")


def evidence_lines(evidence: dict[str, Any] | None, *, per_side: int = 3, indent: str = "") -> list[str]:
    """The evidence under a reason in Markdown: the reason's aspects with footnote marks, the
    reviews behind each mark (the user's own, then the buyers' shown to the Reasoner), and what
    the item's buyers praise and criticise. Review text is quoted escaped: it is not markup."""
    if not evidence:
        return []
    aspects = evidence.get("aspects") or []
    marked = [a for a in aspects if a.get("mark")]
    lines = ["", "**Evidence**"]
    if aspects:
        named = ", ".join(f"{_md(a['phrase'])} [{a['mark']}]" for a in marked)
        unfound = [_md(a["phrase"]) for a in aspects if not a.get("mark")]
        lines.append(f"- the reason names: {named or 'nothing found in the reviews shown'}"
                     + (f"; *in no review shown: {', '.join(unfound)}*" if unfound else ""))
        for side, where in (("item", "the buyers of this item, but only your reviews mention"),
                            ("user", "you, but only other buyers' reviews mention")):
            wrong = [_md(a["phrase"]) for a in marked if a.get("misattributed") == side]
            if wrong:
                lines.append(f"- *said of {where}: {', '.join(wrong)}*")
    marks: dict[str, list[int]] = {}
    sources: dict[str, dict[str, Any]] = {}
    for aspect in marked:
        for source in aspect["sources"]:
            marks.setdefault(source["review_id"], []).append(aspect["mark"])
            sources.setdefault(source["review_id"], source)
    for own in evidence.get("own") or []:
        lines.append(f"- your review of **{_md(own['item'])}**, {_stars(own['stars'])}{_on(own.get('date'))}"
                     f"{_marks(marks.get(own['review_id']))}: “{_md(own['quote'])}”")
    quoted = {own["review_id"] for own in evidence.get("own") or []}
    for review_id, source in sources.items():
        if source["by"] == "you" and review_id not in quoted:
            lines.append(f"- your review of **{_md(source['item'])}**, {_stars(source['stars'])}"
                         f"{_on(source.get('date'))}{_marks(marks[review_id])}: “{_md(source['quote'])}”")
        elif source["by"] == "buyer":
            lines.append(f"- a buyer's review, {_stars(source['stars'])}{_on(source.get('date'))}"
                         f"{_marks(marks[review_id])}: “{_md(source['quote'])}”")
    said = evidence.get("buyers") or {}
    if said.get("reviews"):
        for side in ("praised", "criticised"):
            for entry in (said.get(side) or [])[:per_side]:
                lines.append(f"- buyers {side} *{_md(entry['aspect'])}* ({entry['buyers']} of {said['reviews']}): "
                             f"“{_md(entry['quote'])}”")
    return [lines[0], indent + lines[1], *(indent + line for line in lines[2:])]


def full_evidence(state: DeliberationState) -> str:
    """The evidence of every item a turn answered about, in Markdown (the chat's ``/evidence``,
    after a recommendation too), with the buyers' five most praised and criticised aspects."""
    blocks = []
    answered = [(state.get("item_id"), state.get("item_title"), state.get("item_name"), state.get("evidence"))] + [
        (r["item_id"], r.get("item_title"), r.get("item_name"), r.get("evidence"))
        for r in state.get("recommendations") or []]
    for item, title, name, evidence in answered:
        if not evidence:
            continue
        lines = [f"**{_md(name or item_label(item or '', title))}**", *evidence_lines(evidence, per_side=5)[2:]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~])")


def _md(text: str) -> str:
    """Untrusted text placed in Markdown: its markup characters shown as themselves."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def _stars(rating: float) -> str:
    return f"{rating:g} star" + ("" if rating == 1 else "s")


def _on(date: str | None) -> str:
    return f", {date}" if date else ""


def _marks(marks: list[int] | None) -> str:
    return " " + "".join(f"[{m}]" for m in marks) if marks else ""


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
        name = item.get("item_name") or item_label(item["item_id"], item.get("item_title"))
        lines.append(f"{rank}. **{name}**: {shown_rating(item['rating']):.2f} / 5. "
                     f"{about_item(item['reason'], name, item['item_id'])}"
                     + (f" *({invented})*" if invented else ""))
        if said := verdict_line(item.get("verdict")):
            lines.append(f"   {said}")
        lines += evidence_lines(item.get("evidence"), per_side=1, indent="   ")
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
    item = state.get("item_name") \
        or item_label(state["item_id"], (state.get("review") or {}).get("item_title") or state.get("item_title"))
    text = f"{said.get(update.get('outcome'), 'Saved')}: review of **{item}** by **{state['user_id']}**."
    if update.get("pending"):
        return text + f" Its summary is pending ({update.get('error')}); `reason4rec memory sync` will finish it."
    return text + " Memory updated: " + " / ".join((update.get("summary") or "").splitlines())


def _profile(state: DeliberationState) -> str:
    profile: dict[str, Any] = state.get("profile") or {}
    if not profile.get("text"):
        return f"**{profile.get('user_id')}** has reviews waiting to be summarized; try again after a sync."
    lines = [f"**{profile['user_id']}** ({profile['review_count']} reviews): {profile['text']}", ""]
    lines += [f"- {r.get('item_name') or item_label(r['item_id'], r.get('item_title'))} ({r['rating']:g} stars): "
              + " / ".join((r["summary"] or "pending").splitlines())
              for r in profile.get("recent", [])]
    return "\n".join(lines)
