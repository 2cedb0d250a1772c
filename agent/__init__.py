"""The LangGraph deliberation graph: typed state, one node per step, streamed events."""
