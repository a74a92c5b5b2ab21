"""Metrics (pure) and report writers (JSON/CSV for DVC, Markdown/PNG for people)."""
