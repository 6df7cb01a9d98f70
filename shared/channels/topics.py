"""The topic header is not signed (the HMAC covers the body only), so each channel checks that a body is what
its topic says before anything is parsed; a mismatch is refused here, at the edge, and changes no state.
"""

from __future__ import annotations

from shared.errors import BadRequest

TOPIC_MISMATCH = "Topic does not match body"


def mismatch(channel: str, topic: str, expected: str) -> BadRequest:
    """A 400 refusal naming the topic and what its body should have been (never the body's content)."""
    return BadRequest(
        400, TOPIC_MISMATCH, f"A {channel} {topic or '(none)'} delivery carries {expected}; this body does not."
    )
