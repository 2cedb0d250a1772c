"""The turn view: live in a terminal, plain lines elsewhere, always within 80 columns."""

import re

from rich.console import Console

from reason4rec.chat.view import TurnView, rating_table

RATING = {"type": "rating", "expected": 4.21, "confidence": 0.48,
          "probabilities": {"1": 0.01, "2": 0.04, "3": 0.1, "4": 0.45, "5": 0.4}}
ANSI = re.compile(r"\x1b\[")


def _turn(view: TurnView, *, reason: str = "Warm tone suits a player who wants a quiet practice amp.") -> None:
    view({"type": "step_started", "step": "resolve"})
    view({"type": "step_finished", "step": "resolve", "seconds": 0.01})
    view({"type": "step_started", "step": "recall"})
    view({"type": "retrieved", "step": "recall", "kind": "user_history",
          "records": [{"title": "B000068NW5", "rating": 5.0, "summary": "Positive Aspects: quiet\nNegative: none"}]})
    view({"type": "step_finished", "step": "recall", "seconds": 0.2})
    view({"type": "step_started", "step": "reason"})
    for word in reason.split(" "):
        view({"type": "token", "step": "reason", "text": word + " "})
    view({"type": "step_finished", "step": "reason", "seconds": 3.5})
    view({"type": "step_started", "step": "predict"})
    view(RATING)
    view({"type": "step_finished", "step": "predict", "seconds": 0.4})
    view({"type": "step_started", "step": "respond"})
    view({"type": "step_finished", "step": "respond", "seconds": 0.0})


def test_plain_mode_prints_each_event_as_it_comes_without_escape_codes():
    console = Console(width=80, record=True, force_terminal=False)
    view = TurnView(console)
    assert not view.live
    with view:
        _turn(view)
    out = console.export_text()
    assert not ANSI.search(out)
    assert out.index("resolving who and what") < out.index("recalling histories") < out.index("Reasoner")
    assert "Warm tone suits a player" in out and "predicted 4.21 / 5" in out
    assert "reason: 3.50 s" in out and "respond" not in out
    assert "user_history" not in out  # compact: no histories


def test_verbose_mode_shows_the_histories_used():
    console = Console(width=80, record=True, force_terminal=False)
    with (view := TurnView(console, verbose=True)):
        _turn(view)
    assert "user_history B000068NW5 5*: Positive Aspects: quiet | Negative: none" in console.export_text()


def test_live_mode_draws_spinners_and_tokens_then_leaves_a_still_record():
    console = Console(width=80, record=True, force_terminal=True, color_system="truecolor")
    view = TurnView(console)
    assert view.live
    with view:
        view({"type": "step_started", "step": "reason"})
        view({"type": "token", "step": "reason", "text": "Bright and "})
        with console.capture() as frame:
            console.print(view)  # what the live region shows mid-step
        view({"type": "token", "step": "reason", "text": "quiet."})
        view({"type": "step_finished", "step": "reason", "seconds": 1.25})
        view({"type": "step_started", "step": "predict"})
        view(RATING)
        view({"type": "step_finished", "step": "predict", "seconds": 0.5})
    mid = ANSI.sub("", frame.get())
    assert "Reasoner" in mid and "Bright and" in mid and re.search(r"\d+\.\d s", mid)
    record = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.export_text())
    assert "✓ reason 1.25 s · ✓ predict 0.50 s" in record
    assert "predicted 4.21 / 5" in record and "4★" in record


def test_everything_fits_80_columns():
    for live in (False, True):
        console = Console(width=80, record=True, force_terminal=live, color_system="truecolor" if live else None)
        with (view := TurnView(console, verbose=True, live=live)):
            _turn(view, reason=" ".join(["a-rather-long-word"] * 40))
            view({"type": "token", "step": "reason", "text": "x", "candidate": "B0002E1G5C"})
            console.print(view)
        lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.export_text()).splitlines()
        assert max(len(line) for line in lines) <= 80


def test_rating_table_marks_the_likeliest_star_and_shrinks_with_the_terminal():
    console = Console(width=40, record=True, color_system=None)
    console.print(rating_table(RATING, width=40))
    lines = console.export_text().splitlines()
    assert lines[0].startswith("predicted 4.21 / 5")
    assert max(len(line) for line in lines) <= 40
    four = next(line for line in lines if line.startswith("4★"))
    assert four.count("█") > next(line for line in lines if line.startswith("5★")).count("█")


def test_a_notice_is_shown_in_both_modes():
    plain = Console(width=80, record=True, force_terminal=False)
    with (view := TurnView(plain)):
        view.say("cancelling ...")
    assert "cancelling ..." in plain.export_text()


# --------------------------------------------------------------------------- issue 17: progress, titles, own rating

def _recommend_turn(view: TurnView) -> None:
    """A recommend turn as the graph streams it: summaries made, then two batches of candidates."""
    view({"type": "step_started", "step": "recommend"})
    view({"type": "step_started", "step": "summarize"})
    view({"type": "progress", "step": "summarize", "done": 0, "total": 12, "unit": "history reviews"})
    view({"type": "progress", "step": "summarize", "done": 8, "total": 12, "unit": "history reviews"})
    view({"type": "progress", "step": "summarize", "done": 12, "total": 12, "unit": "history reviews"})
    view({"type": "step_finished", "step": "summarize", "seconds": 9.0})
    view({"type": "progress", "step": "recommend", "done": 0, "total": 3, "unit": "candidates",
          "items": [{"id": "B00ENYA001", "title": "Enya: Watermark"}, {"id": "B0002E1G5C", "title": "B0002E1G5C"}]})
    view({"type": "token", "step": "reason", "text": "Calm ", "candidate": "B00ENYA001"})
    view({"type": "token", "step": "reason", "text": "Bright ", "candidate": "B0002E1G5C"})
    view({"type": "progress", "step": "recommend", "done": 2, "total": 3, "unit": "candidates",
          "items": [{"id": "B000068NW5", "title": "Planet Waves Cable"}]})
    view({"type": "token", "step": "reason", "text": "Quiet.", "candidate": "B000068NW5"})
    view({"type": "progress", "step": "recommend", "done": 3, "total": 3, "unit": "candidates"})
    view({"type": "step_finished", "step": "recommend", "seconds": 30.0})


def test_plain_mode_counts_summaries_left_and_candidates_reasoned_by_title():
    console = Console(width=80, record=True, force_terminal=False)
    with (view := TurnView(console)):
        _recommend_turn(view)
    out = console.export_text()
    assert "summarizing history reviews: 0/12 done, 12 left" in out
    assert "summarizing history reviews: 8/12 done, 4 left" in out and "summarized 12 history reviews" in out
    assert "reasoning 1-2/3: Enya: Watermark (B00ENYA001), B0002E1G5C" in out
    assert "reasoning 3/3: Planet Waves Cable (B000068NW5)" in out and "reasoned 3/3 candidates" in out
    assert "Enya: Watermark (B00ENYA001): Calm" in out and "Planet Waves Cable (B000068NW5): Quiet." in out
    assert "reasoning about" not in out  # announced by progress, not by their first token


def test_live_mode_shows_the_latest_progress_under_the_running_step():
    console = Console(width=80, record=True, force_terminal=True, color_system="truecolor")
    with (view := TurnView(console)):
        view({"type": "step_started", "step": "recommend"})
        view({"type": "progress", "step": "recommend", "done": 2, "total": 5, "unit": "candidates",
              "items": [{"id": "B00ENYA001", "title": "Enya: Watermark"}]})
        view({"type": "token", "step": "reason", "text": "Calm and slow.", "candidate": "B00ENYA001"})
        with console.capture() as frame:
            console.print(view)
        view({"type": "step_finished", "step": "recommend", "seconds": 3.0})
    mid = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frame.get())
    assert "reasoning 3/5: Enya: Watermark (B00ENYA001)" in mid
    assert "Enya: Watermark (B00ENYA001): Calm and slow." in mid


def test_an_item_rated_already_is_said_before_the_deliberation_in_both_modes():
    event = {"type": "already_rated", "rating": 5.0, "date": "2013-04-02"}
    plain = Console(width=80, record=True, force_terminal=False)
    with (view := TurnView(plain)):
        view({"type": "step_started", "step": "recall"})
        view(event)
        _turn(view)
    out = " ".join(plain.export_text().split())
    assert out.index("You rated it 5 stars on 2013-04-02. What follows is what the model would have predicted.") \
        < out.index("Reasoner")
    live = Console(width=80, record=True, force_terminal=True, color_system="truecolor")
    with (view := TurnView(live)):
        view(event)
        _turn(view)
    record = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", live.export_text())
    assert record.index("You rated it 5 stars on 2013-04-02.") < record.index("predicted 4.21 / 5")


def test_unknown_event_types_are_skipped():
    console = Console(width=80, record=True, force_terminal=False)
    with (view := TurnView(console)):
        view({"type": "something_new", "step": "reason"})
        _turn(view)
    assert "Warm tone suits a player" in console.export_text()


def test_a_revised_reason_says_why_and_replaces_the_streamed_one_in_both_modes():
    drafting = [{"type": "progress", "step": "reason", "done": 0, "total": 3, "unit": "drafts"},
                {"type": "progress", "step": "reason", "done": 3, "total": 3, "unit": "drafts"},
                {"type": "reason_revised", "text": "Warm tone suits them.", "drafts": 4, "invented": ["bamboo"]}]
    plain = Console(width=80, record=True, force_terminal=False)
    with (view := TurnView(plain)):
        view({"type": "step_started", "step": "reason"})
        view({"type": "token", "step": "reason", "text": "It is carved from bamboo."})
        for event in drafting:
            view(event)
    out = " ".join(plain.export_text().split())
    assert out.index("It is carved from bamboo.") < out.index("drafting 3 more reasons to check against the reviews")
    assert ("revised: of 4 drafts, this one names fewest things no review it was shown mentions (the first named "
            "bamboo): Warm tone suits them.") in out
    live = Console(width=80, record=True, force_terminal=True, color_system="truecolor")
    with (view := TurnView(live)):
        view({"type": "step_started", "step": "reason"})
        view({"type": "token", "step": "reason", "text": "It is carved from bamboo."})
        for event in drafting:
            view(event)
        with live.capture() as frame:
            live.print(view)
    mid = " ".join(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frame.get()).split())
    assert "revised: of 4 drafts" in mid and "Warm tone suits them." in mid and "bamboo." not in mid


def test_a_match_table_names_items_once_and_an_unnamed_one_by_its_id_alone():
    from reason4rec.chat import matches_table
    from reason4rec.memory.profiles import Profile
    from reason4rec.memory.vectors import Match

    named = Profile("item", "B004M9CKVM", "Delay pedal. Known for: tone.", (), (), (), label="delay pedal")
    bare = Profile("item", "B003SZDFM4", "Known for: sound.", (), (), ())
    console = Console(record=True, width=160)
    console.print(matches_table([Match(named, 0.9), Match(bare, 0.8)], title="items"))
    rows = [line for line in console.export_text().splitlines() if "B00" in line]
    assert "delay pedal" in rows[0] and rows[1].count("B003SZDFM4") == 1
