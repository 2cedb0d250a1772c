from reason4rec.memory.profiles import Profile, build_profile

WARM = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes"
STAND = "Positive Aspects: sturdy stand\nNegative Aspects: none\nUser Preference Elements: stand"


def test_user_profile_merges_recent_reviews_only():
    profile = build_profile("user", "A1", [(5.0, WARM), (4.0, STAND), (3.0, STAND)], recent=2)
    assert profile.text == "Likes: stand. Cares about: stand."  # the oldest review fell out; aspects, not opinions
    assert (profile.review_count, profile.mean_rating) == (3, 4.0)


def test_item_profile_has_keywords_from_all_reviews_and_the_title():
    profile = build_profile("item", "B01", [(5.0, WARM), (2.0, STAND)], recent=1, title="Tube Screamer")
    assert profile.text.startswith("Tube Screamer. Known for: ")
    assert set(profile.keywords) == {"tone", "tubes", "stand"}  # nouns only: no opinion words
    assert "Praised for: stand." in profile.text and "hum" not in profile.positive


def test_profile_round_trips_through_chroma_metadata():
    profile = build_profile("item", "B01", [(5.0, WARM)], recent=5, title="Pedal", updated=12.5)
    again = Profile.from_metadata(profile.text, profile.metadata())
    assert again == profile and again.updated == 12.5
    assert all(isinstance(v, (str, int, float)) for v in profile.metadata().values())


def test_a_profile_without_aspects_says_so():
    empty = "Positive Aspects: none\nNegative Aspects: none\nUser Preference Elements: none"
    assert build_profile("user", "A1", [(3.0, empty)], recent=3).text == "No aspects known yet."


def test_a_garbled_summary_gives_clean_aspects():
    """What the shipped Summarizer wrote for "bright tone but the clip broke" (issue 15)."""
    garbled = ("Positive Aspects: bright note none none none none no one none none,,,,\n"
               "Negative Aspects: none none none neither none\nUser Preference Elements: none")
    profile = build_profile("user", "A1", [(4.0, garbled)], recent=3)
    assert "none none" not in profile.text and ",," not in profile.text
    assert profile.positive == profile.negative == () and profile.text == "No aspects known yet."  # no aspect named
