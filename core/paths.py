"""Where the project lives on disk: relative paths in the configuration are read from here."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def from_project(path: Path) -> Path:
    """A configured path as given when absolute, else relative to the project (not to the working directory)."""
    return path if path.is_absolute() else PROJECT_ROOT / path
