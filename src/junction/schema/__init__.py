"""Wire models of the Interactions API (requests, content, steps, tools)."""
