"""Reviews and what is derived from them without a model: the loaders (the shipped file and
McAuley's Amazon files, validated and cleaned), the splits (leave-last-out, random, temporal), the
histories a target may show and the leak audit. Every layer may import this package; it imports
nothing of the project but ``config`` and ``errors``.
"""

from .loaders import clean_text, dataset_of, load_configured, load_item_titles, load_reviews, load_shipped, shipped_path
from .reviews import (
    MAX_ID_LENGTH,
    SHIPPED_CATEGORY,
    DataError,
    DatasetStats,
    LoadReport,
    OnDuplicate,
    Review,
    ReviewDataset,
    review_id,
)

__all__ = [
    "MAX_ID_LENGTH",
    "SHIPPED_CATEGORY",
    "DataError",
    "DatasetStats",
    "LoadReport",
    "OnDuplicate",
    "Review",
    "ReviewDataset",
    "clean_text",
    "dataset_of",
    "load_configured",
    "load_item_titles",
    "load_reviews",
    "load_shipped",
    "review_id",
    "shipped_path",
]
