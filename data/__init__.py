"""Reviews and what is derived from them without a model: the loaders (the shipped file and
Amazon's review files of 2014, 2018 and 2023, validated and cleaned), the splits (leave-last-out, random, temporal), the
histories a target may show and the leak audit. Every layer may import this package; it imports
nothing of the project but ``config`` and ``errors``.
"""

from typing import TYPE_CHECKING

from .._front_door import lazy_attributes
from .html_text import clean_text, looks_like_markup
from .loaders import (
    among_categories,
    configured_category,
    dataset_of,
    load_configured,
    load_item_titles,
    load_reviews,
    load_shipped,
    meta_beside,
    require_category,
    shipped_path,
)
from .record_formats import RecordFormat, record_format
from .reviews import (
    MAX_ID_LENGTH,
    SHIPPED_CATEGORY,
    DataError,
    DatasetStats,
    LoadReport,
    OnDuplicate,
    Review,
    ReviewDataset,
    merge_datasets,
    review_id,
)

__all__ = [
    "MAX_ID_LENGTH",
    "SHIPPED_CATEGORY",
    "SPLIT_NAMES",
    "SVDPP_SETTING",
    "BiasModel",
    "DataError",
    "DatasetStats",
    "LoadReport",
    "OnDuplicate",
    "RatingEstimates",
    "RecordFormat",
    "Review",
    "ReviewDataset",
    "Split",
    "SplitPart",
    "Target",
    "among_categories",
    "build_targets",
    "clean_text",
    "clip_ratings",
    "cold_side",
    "configured_category",
    "cross_fitted_estimates",
    "dataset_of",
    "deal_folds",
    "estimate_ratings",
    "find_history_leaks",
    "fit_surprise",
    "leaks_rating",
    "load_configured",
    "load_item_titles",
    "load_reviews",
    "load_shipped",
    "looks_like_markup",
    "make_split",
    "merge_datasets",
    "meta_beside",
    "ratings_of",
    "record_format",
    "require_category",
    "require_train",
    "review_id",
    "shipped_path",
]


_LAZY = {
    "BiasModel": ".rating_models",
    "SVDPP_SETTING": ".rating_models",
    "clip_ratings": ".rating_models",
    "cross_fitted_estimates": ".rating_models",
    "cold_side": ".rating_models",
    "deal_folds": ".rating_models",
    "estimate_ratings": ".rating_models",
    "RatingEstimates": ".rating_models",
    "ratings_of": ".rating_models",
    "require_train": ".rating_models",
    "fit_surprise": ".rating_models",
    "SPLIT_NAMES": ".splits",
    "Split": ".splits",
    "SplitPart": ".splits",
    "Target": ".splits",
    "build_targets": ".splits",
    "find_history_leaks": ".splits",
    "leaks_rating": ".leakage",
    "make_split": ".splits",
}
"""Names loaded on first use (their modules are not needed to import the package)."""

if TYPE_CHECKING:
    from .leakage import leaks_rating
    from .rating_models import (
        SVDPP_SETTING,
        BiasModel,
        RatingEstimates,
        clip_ratings,
        cold_side,
        cross_fitted_estimates,
        deal_folds,
        estimate_ratings,
        fit_surprise,
        ratings_of,
        require_train,
    )
    from .splits import SPLIT_NAMES, Split, SplitPart, Target, build_targets, find_history_leaks, make_split


__getattr__ = lazy_attributes(__name__, _LAZY)
