"""From one line a person typed to one :class:`Command`: slash commands and plain words.

No large LLM decides here: a 135M model would guess. Rules find the intent (why, rate,
recommend, review, profile, switch user, help, quit), :class:`~reason4rec.chat.catalog.Catalog`
finds item ids (typos forgiven) and titles, and what is left of a question about an item becomes
its description, which the agent resolves with the memory's semantic search. A line the rules
cannot place gives ``action="unclear"`` and the chat asks instead of guessing.

Example:
    >>> catalog = Catalog(users=["A2EZWZ8MBEDOLN"], items=["B0002E1G5C", "B000068NW5"])
    >>> parse("would I like B0002E1G5C?", catalog).fields
    {'item_id': 'B0002E1G5C'}
    >>> parse("why would the Snark tuner suit me?", catalog).fields
    {'item_query': 'the Snark tuner'}
    >>> command = parse("I just bought B000068NW5, 4 stars: bright tone but the clip broke", catalog)
    >>> command.intent, command.fields["review"]
    ('add_review', {'rating': 4.0, 'text': 'bright tone but the clip broke'})
    >>> parse("recommend something for home recording", catalog).fields
    {'k': 3, 'query': 'home recording'}
    >>> parse("anything similar to B000068NW5?", catalog).fields
    {'k': 3, 'query': 'similar to B000068NW5', 'like_item': 'B000068NW5'}
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz import process

from .catalog import Catalog

Action = Literal["turn", "user", "help", "quit", "mode", "thread", "nothing", "unclear"]

MAX_LINE_CHARS = 4_000
"""Longer lines are refused with a hint (a long review goes through ``memory add-review --text -``)."""
DEFAULT_K = 3
"""Recommendations per request in the chat (each candidate is reasoned about: seconds on a CPU)."""


class InputTooLong(ValueError):
    """The line is over :data:`MAX_LINE_CHARS`."""


@dataclass(frozen=True)
class Command:
    """What one line asks for.

    ``action`` says what the chat does: ``turn`` runs the agent (``intent`` and ``fields`` are
    its input), ``user`` switches to ``value``, ``mode`` sets compact/verbose, ``unclear`` shows
    ``note`` (a question or a hint) and ``nothing`` ignores an empty line. ``note`` on a turn is
    shown first (e.g. "taking B0002E1G5D as B0002E1G5C"). ``answers``: the replies an ``unclear``
    question takes next ("yes", "new"), each with the command it runs.
    """

    action: Action
    intent: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    value: str | None = None
    note: str | None = None
    answers: dict[str, Command] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SlashCommand:
    name: str
    usage: str
    help: str


SLASH_COMMANDS = (
    SlashCommand("why", "/why ITEM", "why ITEM (an id or words) would or would not suit you"),
    SlashCommand("rate", "/rate ITEM", "only the predicted rating for ITEM"),
    SlashCommand("recommend", "/recommend [K] [NEED]", "top K items for you, optionally for a need"),
    SlashCommand("review", "/review ITEM STARS TEXT", "add your review of ITEM (1-5 stars)"),
    SlashCommand("profile", "/profile", "what the memory knows you care about"),
    SlashCommand("evidence", "/evidence", "every review behind the last answer, quoted"),
    SlashCommand("user", "/user [ID]", "switch to user ID (or show who you are)"),
    SlashCommand("verbose", "/verbose", "also show the histories and summaries used"),
    SlashCommand("compact", "/compact", "show only steps, reason and rating"),
    SlashCommand("thread", "/thread", "the conversation's thread id (to resume it later)"),
    SlashCommand("help", "/help", "this screen"),
    SlashCommand("quit", "/quit", "leave (Ctrl-D works too)"),
)
_ALIASES = {"exit": "quit", "q": "quit", "?": "help", "h": "help", "predict": "rate", "rec": "recommend",
            "me": "profile", "u": "user"}

EXAMPLES = (
    "why would the Snark tuner suit me?",
    "would I like B0002E1G5C?",
    "recommend something for home recording",
    "I just bought B000068NW5, 4 stars: bright tone but the clip broke",
    "what do I care about?",
    "switch to user A2EZWZ8MBEDOLN",
)

# --------------------------------------------------------------------------- plain-word rules
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)")
_QUIT = re.compile(r"^(quit|exit|bye|goodbye|see you|that'?s all)[.!]*$")
_HELP = re.compile(r"^(help|\?+|h|what can you do|how does (this|it) work|commands)\b")
_SWITCH = re.compile(r"^(?:(?:please )?switch(?: me)?(?: to)?|change(?: user)? to|log ?in as|login as)"
                     r"(?: user)? (?P<who>\S+)$|^user (?P<who2>\S+)$|^(?:i am|i'm|im|this is|it'?s) (?P<who3>\S+)$")
_PROFILE = re.compile(r"\b(what do i (care|like|value|prefer|want)|my (profile|preferences|taste|tastes)|about me\b|"
                      r"who am i|what do you know about me|what am i into)")
_STARS = re.compile(r"(?P<n>[1-5](?:\.5)?)\s*(?:stars?\b|/\s*5\b|\*|out of (?:5|five)\b)|"
                    r"\b(?:gave it|give it|rate it|rated it|rating(?: of)?|rated)\s+(?P<m>[1-5](?:\.5)?)\b")
_REVIEW_VERB = re.compile(r"\b(bought|got|own|have|received|purchased|tried|used|review(?:ed)?|rated?|gave|give)\b")
_RECOMMEND = re.compile(r"\b(recommend\w*|top \d+|picks|suggest\w*|what should i (buy|get|try)|anything (for|to)|"
                        r"looking for|i need|i want|show me|find me|something (for|to)|any (ideas|picks)|"
                        r"(something|anything|more|stuff|things|items|products) (just )?like|similar to|"
                        r"in the style of)\b")
_SIMILAR = re.compile(r"(?:^|\b(?:something|anything|more|stuff|things|items|products|picks|ones?|recommend\w*|"
                      r"suggest\w*)\s+)(?:just\s+)?like\s+|\b(?:similar|close)\s+to\s+|\bresembling\s+|"
                      r"\bin the style of\s+")
"""Where a request for items like another one names it ("something like X", "similar to X")."""
_RATE = re.compile(r"\b(how (would|will|do) i rate|what (would|will) i rate|how many stars|predict\w*|"
                   r"what rating|rate)\b")
_EXPLAIN = re.compile(r"\b(why|would i (like|love|enjoy)|will i (like|love|enjoy)|suit|suits|good (fit )?for me|"
                      r"right for me|for me\b|should i (buy|get|try)|do you think i|is it worth|worth it|"
                      r"tell me about|what about|how about|thoughts on|fit for me|match for me)")
_NUMBER = r"(?:[1-9]|1\d|20|one|two|three|four|five|six|seven|eight|nine|ten)"
_K = re.compile(rf"\b(?:top\s+)?(?P<k>{_NUMBER})\s+(?:things|items|products|picks|ideas|options|"
                rf"recommendations|suggestions)\b|\btop\s+(?P<k2>{_NUMBER})\b")
"""A count asked for with its words: "5 picks", "top 5", "two things" (all of it leaves the need)."""
_K_NOUN = re.compile(rf"\b(?:recommend|suggest|show me|find me|give me|get me)\s+(?:me\s+)?(?P<k>{_NUMBER})"
                     r"(?=\s+[a-z])")
"""A count before what is asked for: "recommend 4 tuners" (the count leaves the need, "tuners" stays)."""
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10}
_FILLER = re.compile(
    r"\b(why|would|will|do|does|did|you|think|i|i'd|i'll|me|my|myself|like|love|enjoy|suit|suits|be|a good|"
    r"good|fit|right|for|should|buy|get|give|try|is|it|worth|tell|about|what|how|thoughts|on|match|the item|item|"
    r"please|rate|rating|predict|predicted|stars?|many|can|could|really)\b|[?!.,;:]")


def clean_line(text: str) -> str:
    """Printable text only: control characters (escape sequences, NULs, bells) become spaces.

    Raises:
        InputTooLong: the line is over :data:`MAX_LINE_CHARS` characters.
    """
    text = _ANSI.sub(" ", unicodedata.normalize("NFKC", text))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_LINE_CHARS:
        raise InputTooLong(f"that line is {len(text):,} characters; the chat takes up to {MAX_LINE_CHARS:,} "
                           "(add a longer review with `reason4rec memory add-review --text -`)")
    return text


def parse(line: str, catalog: Catalog) -> Command:
    """The command ``line`` asks for (see the module docstring for what is understood)."""
    text = clean_line(line)
    if not text:
        return Command("nothing")
    if text.startswith("/"):
        return _slash(text, catalog)
    return _plain(text, catalog)


# --------------------------------------------------------------------------- slash commands
def _slash(text: str, catalog: Catalog) -> Command:
    name, _, rest = text[1:].partition(" ")
    name, rest = _ALIASES.get(name.lower(), name.lower()), rest.strip()
    if name == "help":
        return Command("help")
    if name == "quit":
        return Command("quit")
    if name in ("verbose", "compact"):
        return Command("mode", value=name)
    if name == "thread":
        return Command("thread")
    if name == "evidence":
        return Command("evidence")
    if name == "user":
        return _switch(rest, catalog, explicit=True) if rest else Command("user")
    if name == "profile":
        return Command("turn", "profile")
    if name in ("why", "rate"):
        if not rest:
            return Command("unclear", note=f"which item? try `/{name} B0002E1G5C` or `/{name} the Snark tuner`")
        return _about_item("explain" if name == "why" else "predict", rest, catalog, whole=True)
    if name == "recommend":
        return _recommendation(rest, catalog, slash=True)
    if name == "review":
        return _review(rest, catalog, slash=True)
    known = [c.name for c in SLASH_COMMANDS]
    guess = process.extractOne(name, known, score_cutoff=60)
    hint = f"; did you mean `/{guess[0]}`?" if guess else ""
    return Command("unclear", note=f"unknown command `/{name}`{hint} (`/help` lists them)")


# --------------------------------------------------------------------------- plain words
def _plain(text: str, catalog: Catalog) -> Command:
    low = text.lower()
    if _QUIT.match(low):
        return Command("quit")
    if _HELP.match(low):
        return Command("help")
    switch = _SWITCH.match(low.rstrip(".!"))
    if switch:
        who = next(g for g in switch.group("who", "who2", "who3") if g)
        original = text.rstrip(".!").split()[-1]
        explicit = bool(switch.group("who") or switch.group("who2"))  # not "i am ...", which may be prose
        command = _switch(original if original.lower() == who else who, catalog, explicit=explicit)
        if command.action != "unclear" or explicit or command.answers:
            return command
    if _PROFILE.search(low):
        return Command("turn", "profile")
    if _STARS.search(low) and (_REVIEW_VERB.search(low) or catalog.mentioned_items(text)):
        return _review(text, catalog, slash=False)
    if _RECOMMEND.search(low):
        return _recommendation(text, catalog, slash=False)
    if _RATE.search(low):
        return _about_item("predict", text, catalog)
    if _EXPLAIN.search(low):
        return _about_item("explain", text, catalog)
    return _unplaced(text, catalog)


def _switch(who: str, catalog: Catalog, explicit: bool) -> Command:
    who = who.strip().strip("\"'")
    found = catalog.find_user(who)
    if found and found.upper() == who.upper():
        return Command("user", value=found)
    new = Command("user", value=who, note=f"`{who}` has no reviews yet: add one first "
                                         "(e.g. `/review B000068NW5 4 bright tone`)")
    if found:  # a typo, or a new user whose id is close to a known one: what they write next is theirs
        return Command("unclear", note=f"I don't know a user `{who}`: did you mean `{found}`? Say `yes` to "
                                       f"switch to `{found}`, or `new` to start as `{who}`.",
                       answers={"yes": Command("user", value=found), "new": new})
    if explicit:  # a new user may start by adding a review
        return new
    return Command("unclear", note=f"I don't know a user `{who}`; switch with `/user ID`")


def _about_item(intent: str, text: str, catalog: Catalog, whole: bool = False) -> Command:
    """An explain/predict turn about the item ``text`` names: an id, a title or a description."""
    for token, match in catalog.mentioned_items(text):
        if match is None:
            return Command("turn", intent, {"item_id": token.upper()})  # resolve says it is unknown
        note = None if match.exact else f"taking `{token}` as `{match.item_id}`"
        return Command("turn", intent, {"item_id": match.item_id}, note=note)
    phrase = text if whole else _description(text)
    if not phrase:
        return Command("unclear", note="which item? give its id (e.g. B0002E1G5C) or describe it "
                                       "(e.g. \"the Snark tuner\")")
    titled = catalog.find_title(phrase)
    if titled:
        return Command("turn", intent, {"item_id": titled.item_id})
    labelled = catalog.find_label(phrase)
    if len(labelled) == 1:
        return Command("turn", intent, {"item_id": labelled[0]})
    if labelled:
        return _which(intent, phrase, labelled, catalog)
    return Command("turn", intent, {"item_query": phrase})


MAX_CHOICES = 5
"""Items listed when a label names several (the rest are counted)."""


def _which(intent: str, phrase: str, items: list[str], catalog: Catalog) -> Command:
    """Several items carry the label ``phrase`` says: list them and take a number or an id."""
    shown = items[:MAX_CHOICES]
    lines = [f"{n}. `{catalog.name(item)}`" for n, item in enumerate(shown, 1)]
    more = f" (and {len(items) - len(shown)} more)" if len(items) > len(shown) else ""
    label = catalog.labels.get(items[0], phrase)
    answers = {str(n): Command("turn", intent, {"item_id": item}) for n, item in enumerate(shown, 1)}
    answers.update({item.lower(): Command("turn", intent, {"item_id": item}) for item in items})
    return Command("unclear", note=f"{len(items)} items are called \"{label}\"{more}:\n" + "\n".join(lines)
                   + "\nWhich one? Answer with its number or id, or describe it more (a brand, a feature).",
                   answers=answers)


def _description(text: str) -> str:
    """What is left of a question once the question words are gone: the item's description."""
    kept = [w for w in text.split() if not _FILLER.fullmatch(w.lower().strip("?!.,;:\"'"))
            and w.strip("?!.,;:\"'")]
    phrase = " ".join(w.strip("?!.,;:\"") for w in kept).strip()
    trivial = ("", "the", "a", "an", "this", "that", "one", "this one", "that one", "it", "them", "those")
    return "" if phrase.lower() in trivial else phrase


def _recommendation(text: str, catalog: Catalog, slash: bool) -> Command:
    k, body = DEFAULT_K, text
    if slash:
        first, _, rest = text.partition(" ")
        if first.isdigit():
            k, body = max(1, min(int(first), 20)), rest
    else:
        if found := _K.search(text.lower()):
            k = _count(found.group("k") or found.group("k2"))
            body = text[:found.start()] + text[found.end():]
        elif found := _K_NOUN.search(text.lower()):
            k = _count(found.group("k"))
            body = text[:found.start("k")] + text[found.end("k"):]
    query = _similar(body) or (body.strip() if slash else _need(body))
    fields: dict[str, Any] = {"k": k}
    if query:
        fields["query"] = query
        if item := _named_item(query, catalog):
            fields["like_item"] = item
    return Command("turn", "recommend", fields)


def _count(word: str) -> int:
    return _NUMBER_WORDS.get(word) or int(word)


def _similar(text: str) -> str:
    """A request for items like another one, as its need ("recommend something like Enya" ->
    "similar to Enya"); empty when the request asks for nothing like that."""
    found = _SIMILAR.search(text.lower())
    named = _tidy_need(text[found.end():]) if found else ""
    return f"similar to {named}" if named else ""


def _named_item(need: str, catalog: Catalog) -> str | None:
    """The known item a need names, whose profile then steers the recommendation: by id, or by
    title (any close title after "similar to"; otherwise only the exact title, so "for home
    recording" is not taken for an item with "recording" in its name)."""
    similar = need.startswith("similar to ")
    phrase = need.removeprefix("similar to ")
    for _, match in catalog.mentioned_items(phrase):
        if match is not None:
            return match.item_id
    titled = catalog.find_title(re.sub(r"^(?:the|a|an|my)\s+", "", phrase, flags=re.I))
    if titled and (similar or titled.exact):
        return titled.item_id
    labelled = catalog.find_label(phrase) if similar else []
    return labelled[0] if len(labelled) == 1 else None


def _need(text: str) -> str:
    """The need a recommendation request names: what follows its verb ("recommend a tuner for my
    acoustic guitar" -> "tuner for my acoustic guitar", "recommend something for home recording" ->
    "home recording"), else what follows "for", "to" ... ("top 5 picks for jazz guitar" -> "jazz guitar")."""
    low = text.lower()
    asked = _ASKED.search(low)
    if asked is not None:
        need = _tidy_need(text[asked.end():])
        while need != (tidier := _tidy_need(need)):  # "me something for ..."
            need = tidier
        if need:
            return need
    cut = re.search(r"\b(?:for|to|about|with|that|which)\b\s+(?!me\b|my ?self\b)", low)
    return _tidy_need(text[cut.end():]) if cut else ""


_ASKED = re.compile(r"\b(?:recommend\w*|suggest\w*|looking for|i need|i want|show me|find me)\b\s*")
"""The verb of a recommendation request, after which its need is said."""


def _tidy_need(need: str) -> str:
    """A need without its filler ("something for", "please", punctuation); empty if nothing is left."""
    need = need.strip(" ?!.,;:")
    need = re.sub(r"^(?:something|anything|some|a|an|me)\s+(?:for\s+|to\s+)?", "", need, flags=re.I).strip()
    need = re.sub(r"^(?:for|to)\s+", "", need, flags=re.I).strip()  # what "2 things" left: "for home recording"
    need = re.sub(r"[\s,]*\bplease\b[\s,]*$|^please\s+", "", need, flags=re.I).strip(" ?!.,;:")
    if re.fullmatch(r"(?:that |which )?(?:i|i'd|i'll|i would|i will|i might|i may|i could)\b.*\b(?:like|love|enjoy)",
                    need, flags=re.I):
        return ""  # "something I'd like": a taste, not a need
    return "" if need.lower() in ("me", "myself", "something", "anything", "") else need


def _review(text: str, catalog: Catalog, slash: bool) -> Command:
    """A new review: an item, stars 1-5 and some text."""
    if slash:
        parts = text.split(" ", 2)
        if len(parts) < 3 or not _is_stars(parts[1]):
            return Command("unclear", note="usage: `/review ITEM STARS TEXT`, e.g. "
                                           "`/review B000068NW5 4 bright tone but the clip broke`")
        item_token, stars, body = parts[0], float(parts[1].rstrip("*")), parts[2]
    else:
        found = _STARS.search(text.lower())
        assert found is not None
        stars = float(found.group("n") or found.group("m"))
        after = text[found.end():]
        before = text[:found.start()]
        body = after.split(":", 1)[1] if ":" in after else (after if after.strip(" ,.-;") else "")
        if not body.strip() and ":" in before:
            body = before.split(":", 1)[1]
        mentioned = catalog.mentioned_items(text)
        item_token = mentioned[0][0] if mentioned else ""
        body = re.sub(r"^[\s,.;:\-]*(?:and|but)?\s*", "", body).strip()
        if not item_token:
            return Command("unclear", note="which item is the review for? give its id, e.g. "
                                           "\"I just bought B000068NW5, 4 stars: bright tone\"")
    if not body.strip():
        return Command("unclear", note="what would you like to say about it? e.g. "
                                       f"\"{item_token}, {stars:g} stars: bright tone but the clip broke\"")
    match = catalog.find_item(item_token)
    review = {"rating": stars, "text": body.strip()}
    if match is None or match.exact:
        return Command("turn", "add_review", {"item_id": match.item_id if match else item_token, "review": review})
    # A write is not guessed: the near id may be a typo or a new item whose id is close to a known one.
    name = catalog.name(match.item_id)
    return Command("unclear", note=f"`{item_token}` is not in the memory: did you mean `{name}`? Say `yes` to "
                                   f"file the review under `{match.item_id}`, or `new` to add `{item_token}` "
                                   "as a new item.",
                   answers={"yes": Command("turn", "add_review", {"item_id": match.item_id, "review": review}),
                            "new": Command("turn", "add_review", {"item_id": item_token, "review": review})})


def _is_stars(token: str) -> bool:
    try:
        return 1 <= float(token.rstrip("*")) <= 5
    except ValueError:
        return False


def _unplaced(text: str, catalog: Catalog) -> Command:
    """No rule matched: if an item is named, ask whether the person wants its why."""
    mentioned = [m for _, m in catalog.mentioned_items(text) if m is not None]
    if mentioned:
        item = mentioned[0].item_id
        name = catalog.name(item)
        return Command("unclear", value=item, note=f"do you want to know why `{name}` would or would not suit you? "
                                                   "say `yes`, or `/rate` it, or `/help`")
    return Command("unclear", fields={"text": text},
                   note="I did not get that. Ask e.g. \"why would the Snark tuner suit me?\", "
                        "\"recommend something for home recording\", or type `/help`.")
