"""How the agent's stream events read to a person: step labels and one-line texts for progress,
"you rated it already" and retrieved records. Shared by the plain printer and the live chat view."""

from __future__ import annotations

from ..memory import item_label
from .answers import rated_sentence

STEP_LABELS = {"resolve": "resolving who and what", "recall": "recalling histories from memory",
               "summarize": "summarizing reviews the memory had no current summary for",
               "reason": "Reasoner", "predict": "Predictor", "recommend": "finding and weighing candidates",
               "update": "writing the review to memory", "profile": "reading the profile", "respond": "answer"}
"""What each step of a turn is called on screen."""


def progress_text(event: dict) -> str:
    """One line for a ``progress`` event: "reasoning 2/5: <title> (<id>)", "summarizing history
    reviews: 8/20 done, 12 left"."""
    done, total, unit = event["done"], event["total"], event["unit"]
    items = event.get("items") or []
    if items:
        span = f"{done + 1}" if len(items) == 1 else f"{done + 1}-{done + len(items)}"
        return f"reasoning {span}/{total}: " + ", ".join(item_label(i["id"], i.get("title")) for i in items)
    if unit == "candidates":
        return f"reasoned {done}/{total} candidates"
    if unit == "drafts":
        if done >= total:
            return f"compared {total} more drafts with the reviews shown"
        if done:
            return f"still under 80% in the reviews shown: drafting {total - done} more reasons"
        return f"drafting {total} more reasons to check against the reviews shown"
    if done >= total:
        return f"summarized {total} {unit}"
    return f"summarizing {unit}: {done}/{total} done, {total - done} left"


def revised_text(event: dict) -> str:
    """The line that says the reason shown so far was replaced by a draft that invents less."""
    invented = event.get("invented") or []
    named = f" (the first named {', '.join(invented[:4])}{' ...' if len(invented) > 4 else ''})" if invented else ""
    return (f"revised: of {event['drafts']} drafts, this one names fewest things no review it was shown "
            f"mentions{named}")


def already_rated_text(event: dict) -> str:
    """The line that says first that the user reviewed this item already."""
    return f"{rated_sentence(event['rating'], event.get('date'))} What follows is what the model would have predicted."


def record_label(record: dict) -> str:
    """How a ``retrieved`` record is named: an item by title and id, a history review by its title."""
    if "id" in record:
        return item_label(record["id"], record.get("title"))
    return str(record.get("title") or record.get("item_id"))
