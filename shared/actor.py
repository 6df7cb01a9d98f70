"""Who did it: the actor recorded on the timeline for a retry, an SKU map upload or an erasure.

On Azure, App Service Authentication (Microsoft Entra ID) signs people in and the platform sets the
X-MS-CLIENT-PRINCIPAL-NAME header on every request it lets through; a call without it came with a function
key (a machine). Locally there is no sign-in: the actor is the operating-system user.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping

PRINCIPAL_HEADER = "x-ms-client-principal-name"
MACHINE = "operator:function-key"
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def on_azure(env: Mapping[str, str] | None = None) -> bool:
    """App Service and Functions set WEBSITE_SITE_NAME on every instance; Core Tools and the local host do not."""
    env = os.environ if env is None else env
    return bool(env.get("WEBSITE_SITE_NAME"))


def local_actor() -> str:
    """`operator:<operating-system user>`; `operator` where the user cannot be told (no passwd entry)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        return "operator"
    return f"operator:{_clean(user)}" if _clean(user) else "operator"


def actor_from_headers(headers: Mapping[str, str], env: Mapping[str, str] | None = None) -> str:
    """The actor of an HTTP request. The header is trusted on Azure only, where the platform sets it (and
    drops one a client sent); locally it is ignored, so nobody can name someone else."""
    if not on_azure(env):
        return local_actor()
    name = _clean(headers.get(PRINCIPAL_HEADER, "") or headers.get(PRINCIPAL_HEADER.upper(), ""))
    return f"operator:{name}" if name else MACHINE


def _clean(value: str) -> str:
    return _UNPRINTABLE.sub("", value).strip()[:200]
