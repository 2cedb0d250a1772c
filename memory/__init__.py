"""The durable review store and the Chroma vector memory of preference summaries."""
