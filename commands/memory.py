"""``reason4rec memory ...``: the review store and the vector memory of preferences."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..app import resources, upkeep, views
from .options import (
    AdaptersOption,
    AllowTruncatedOption,
    BulkChoice,
    CategoryOption,
    ConfigOption,
    CoreOption,
    HomeOption,
    MetaOption,
    OnDuplicateOption,
    ReviewsOption,
    console,
    flags_config,
    loading_flags,
    open_service,
)

memory_app = typer.Typer(help="The review store and the vector memory of preferences.", no_args_is_help=True)


@memory_app.command("build")
def memory_build(
    rebuild: Annotated[
        bool,
        typer.Option(help="Move the vector folder aside and rebuild it from the review store."),
    ] = False,
    summaries: Annotated[
        BulkChoice | None,
        typer.Option(help="Summaries for imported reviews with none cached: lexicon (fast) or summarizer (a GPU job).",
                     show_default=False),
    ] = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    reviews: ReviewsOption = None,
    meta: MetaOption = None,
    category: CategoryOption = None,
    on_duplicate: OnDuplicateOption = None,
    allow_truncated: AllowTruncatedOption = None,
    core: CoreOption = None,
) -> None:
    """Fill the memory from a dataset (the shipped one by default); resumable, reuses cached summaries."""
    config = flags_config(config_file, home=home, reviews=reviews, meta=meta,
                     **loading_flags(category, on_duplicate, allow_truncated, core))
    if summaries is not None:
        config.memory.bulk_summaries = summaries.value
    dataset = resources.load_dataset(config)
    with open_service(config) as service:
        upkeep.build(service, dataset, adapters, rebuild=rebuild)
        views.memory_status(console, service.status())


@memory_app.command("add-review")
def memory_add_review(
    user: Annotated[str, typer.Option(help="User id (created on a first review).")],
    item: Annotated[str, typer.Option(help="Item id (created on a first review).")],
    rating: Annotated[float, typer.Option(help="Stars, 1 to 5.")],
    text: Annotated[str, typer.Option(help="The review text; '-' reads it from stdin.")],
    title: Annotated[str, typer.Option(help="The review's headline.")] = "",
    item_title: Annotated[str | None, typer.Option(help="The item's name, if known.", show_default=False)] = None,
    timestamp: Annotated[int | None, typer.Option(help="Unix time (default now).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    summaries: Annotated[
        BulkChoice,
        typer.Option(help="Who summarizes it: the Summarizer (loads the model) or the keyword lexicon (no model; "
                     "upgraded when the agent reasons over it)."),
    ] = BulkChoice.summarizer,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Store a review durably, summarize it and refresh the user's and item's profiles."""
    config = flags_config(config_file, home=home)
    text = sys.stdin.read() if text == "-" else text
    with open_service(config, as_json=as_json) as service:  # stdout: the JSON alone
        result = service.add_review(user, item, rating, text, title=title, item_title=item_title,
                                    timestamp=timestamp, adapters=adapters, summaries=summaries.value)
    views.review_added(console, result, as_json)


@memory_app.command("sync")
def memory_sync(
    summaries: Annotated[
        BulkChoice,
        typer.Option(help="Who summarizes reviews people added: the Summarizer (loads the model when one is "
                     "pending) or the keyword lexicon (no model)."),
    ] = BulkChoice.summarizer,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Finish what an interrupted or failed update left: pending reviews and stale profiles."""
    with open_service(flags_config(config_file, home=home)) as service:
        upkeep.sync(service, adapters, lexicon=summaries == BulkChoice.lexicon)
        views.memory_status(console, service.status())


@memory_app.command("migrate")
def memory_migrate(config_file: ConfigOption = None, home: HomeOption = None) -> None:
    """Bring a PostgreSQL review store's schema to this reason4rec's version (memory.store_url).

    Run it once, after the processes of the older reason4rec have stopped; two at once take turns.
    A SQLite store migrates itself when it is opened.
    """
    from ..config import redact
    from ..memory import migrate

    config = flags_config(config_file, home=home)
    if not config.memory.store_url:
        console.print(f"{config.store_path} is a SQLite store: it is migrated when it is opened; nothing to do",
                      highlight=False, soft_wrap=True)
        return
    before, after = migrate(config.memory.store_url, config.memory.connect_timeout_s)
    where = redact(config.memory.store_url)
    said = (f"created the schema (version {after})" if before is None else
            f"already at schema version {after}" if before == after else f"migrated schema {before} -> {after}")
    console.print(f"{where}: {said}", highlight=False, soft_wrap=True)


@memory_app.command("status")
def memory_status(config_file: ConfigOption = None, home: HomeOption = None) -> None:
    """Counts in the review store and the vector memory (they should agree)."""
    with open_service(flags_config(config_file, home=home)) as service:
        views.memory_status(console, service.status())


@memory_app.command("salvage")
def memory_salvage(
    out: Annotated[Path, typer.Argument(help="Where to write the new store; must not exist.", show_default=False)],
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Copy what a damaged review store still holds into a new store at OUT (the damaged file is only read)."""
    from ..memory import salvage_store

    config = flags_config(config_file, home=home)
    if config.memory.store_url:
        from ..memory import StoreError

        raise StoreError("memory salvage reads a damaged SQLite store; this configuration keeps the reviews in "
                         "PostgreSQL (memory.store_url), which reports its own damage: restore it from a backup "
                         "(pg_dump -n reason4rec)")
    with console.status("reading the damaged review store ..."):
        report = salvage_store(config.store_path, out)
    views.salvaged(console, report)


@memory_app.command("profile")
def memory_profile(
    user: Annotated[str | None, typer.Option(help="A user id.", show_default=False)] = None,
    item: Annotated[str | None, typer.Option(help="An item id.", show_default=False)] = None,
    history: Annotated[int, typer.Option(help="How many recent reviews to list with their summaries.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """A user's or an item's preference profile and recent reviews with their summaries."""
    if (user is None) == (item is None):
        raise typer.BadParameter("give exactly one of --user or --item")
    kind, entity = ("user", user) if user is not None else ("item", item)
    with open_service(flags_config(config_file, home=home)) as service:
        found = service.profile(kind, entity, history)
    views.portrait(console, found)


@memory_app.command("search")
def memory_search(
    text: Annotated[str | None, typer.Argument(help="What you are looking for, in words.", show_default=False)] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Match this user's profile (and skip items they reviewed).", show_default=False),
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many items.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Items whose profiles match a need in words, a user's preferences, or both."""
    if text is None and user is None:
        raise typer.BadParameter("give a search text, --user, or both")
    with open_service(flags_config(config_file, home=home)) as service:
        matches = service.search(text, user, k)
    views.matches(console, matches, f"items for {user or 'the search'}" + (f": {text}" if text else ""))


@memory_app.command("similar-users")
def memory_similar_users(
    user: Annotated[str, typer.Option(help="A user id.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many users.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Users whose preference profiles are closest to this user's."""
    with open_service(flags_config(config_file, home=home)) as service:
        views.matches(console, service.similar_users(user, k), f"users similar to {user}")
