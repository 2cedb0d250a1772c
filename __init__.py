"""reason4rec: a recommendation assistant that reasons before it rates.

Three LoRA experts on one base model (Summarizer, Reasoner, Predictor) implement the Reason4Rec
method; ``training`` holds the data, splits, baselines and training stages; ``experts`` the base
model resolver and the experts; ``memory`` the review store and vector memory; ``agent`` the
LangGraph deliberation graph. Heavy libraries are imported where used, so this import is cheap.
"""

__version__ = "0.1.0"

__all__ = ["Agent", "__version__", "load_config"]


def __getattr__(name: str):
    """``from reason4rec import Agent, load_config`` (the scripting API), imported on first use so
    ``import reason4rec`` stays cheap."""
    if name == "Agent":
        from .agent import Agent

        return Agent
    if name == "load_config":
        from .config import load_config

        return load_config
    raise AttributeError(f"module 'reason4rec' has no attribute {name!r}")
