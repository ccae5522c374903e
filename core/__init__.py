"""Cross-cutting plumbing: configuration and the database connection."""
