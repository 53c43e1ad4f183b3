"""Generated media: a content-addressed blob store plus per-interaction references."""
