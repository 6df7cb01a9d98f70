"""Local app settings: local.settings.json (git-ignored) or, failing that, local.settings.example.json.

Like the Functions host, the Values become environment variables; variables already set win.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def load_local_settings(root: Path) -> Path | None:
    """Copy the Values of the first settings file found into os.environ. Returns the file used."""
    for name in ("local.settings.json", "local.settings.example.json"):
        path = root / name
        if path.is_file():
            values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
            for key, value in values.items():
                os.environ.setdefault(key, str(value))
            return path
    return None
