"""The catalog: exact and fuzzy ids, titles, and ids the memory learns during a chat."""

from reason4rec.chat.catalog import Catalog


def test_ids_match_in_any_case_and_with_a_typo():
    catalog = Catalog(users=["A2EZWZ8MBEDOLN"], items=["B0002E1G5C", "B000068NW5"])
    assert catalog.find_item("b0002e1g5c").exact
    near = catalog.find_item("B0002E1G5D")
    assert near.item_id == "B0002E1G5C" and not near.exact and near.score >= 80
    assert catalog.find_item("XYZ1234567") is None
    assert catalog.find_item("B0") is None  # too short to guess from
    assert catalog.find_user("a2ezwz8mbedolm") == "A2EZWZ8MBEDOLN"
    assert catalog.find_user("nobody") is None


def test_titles_match_by_words():
    catalog = Catalog(items=["B1", "B2"], titles={"B1": "Snark SN-5 Tuner", "B2": "Planet Waves Capo"})
    assert catalog.find_title("planet waves capo").item_id == "B2"
    assert catalog.find_title("a drum kit") is None
    assert Catalog(items=["B1"]).find_title("anything") is None


def test_known_users_are_not_taken_for_items():
    catalog = Catalog(users=["A2EZWZ8MBEDOLN"], items=["B0002E1G5C"])
    assert [token for token, _ in catalog.mentioned_items("A2EZWZ8MBEDOLN likes B0002E1G5C")] == ["B0002E1G5C"]


def test_new_ids_are_added():
    catalog = Catalog()
    catalog.add("NEWUSER123", "NEWITEM123", "A New Pedal")
    assert catalog.has_user("newuser123") and catalog.find_item("NEWITEM123").exact
    assert catalog.find_title("new pedal").item_id == "NEWITEM123"


def test_from_memory_reads_the_store(memory, record, write_lines):
    memory.store.add("U1", "ITEM000001", 4, "fine", item_title="Blue Pedal")
    memory.store.add("U2", "ITEM000002", 2, "meh")
    catalog = Catalog.from_memory(memory)
    assert set(catalog.users) == {"U1", "U2"} and set(catalog.items) == {"ITEM000001", "ITEM000002"}
    assert catalog.titles == {"ITEM000001": "Blue Pedal"}
