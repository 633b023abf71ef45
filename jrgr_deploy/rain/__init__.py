"""JRGR rain synthesis: model A (synthetic streaks + haze) and model B (physically based)."""
