"""UNIMO_HOME: the one folder that holds a user's local state.

Default MLflow store, checkpoints and datasets all live under it, so a user can find
(or delete) everything unimo wrote in one place.
"""

from __future__ import annotations

import os

ENV_VAR = "UNIMO_HOME"
DEFAULT = ".unimo"


def unimo_home() -> str:
    """The state folder: `$UNIMO_HOME`, else `./.unimo`, as an absolute path or URL."""
    home = os.environ.get(ENV_VAR) or DEFAULT
    if "://" in home:
        return home.rstrip("/")
    return os.path.abspath(os.path.expanduser(home))


def home_path(*parts: str) -> str:
    """A location under UNIMO_HOME, e.g. `home_path("checkpoints")`."""
    return "/".join([unimo_home(), *parts])
