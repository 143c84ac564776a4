"""Stripe API keys as they describe themselves: kind (secret, restricted, publishable) and mode.

The format is Stripe's (``sk_test_...``, ``rk_live_...``, ``pk_test_...``, then at least 24
letters and digits); dj-stripe refuses any key that does not match it.
"""

import re
from dataclasses import dataclass

_PREFIX = re.compile(r"^(sk|rk|pk)_(test|live)_")
_WHOLE = re.compile(r"^(pk|sk|rk)_(test|live)_[a-zA-Z0-9]{24,}$")


@dataclass(frozen=True)
class KeyShape:
    """What a Stripe API key says about itself: kind ``sk``/``rk``/``pk`` and mode."""

    kind: str  # "sk", "rk", "pk", or "" when it is not a Stripe key at all
    mode: str  # "test", "live", or ""
    valid: bool  # the whole key has Stripe's format

    @property
    def live(self) -> bool:
        return self.mode == "live"


def key_shape(key: str) -> KeyShape:
    match = _PREFIX.match(key or "")
    if match is None:
        return KeyShape("", "", False)
    return KeyShape(match.group(1), match.group(2), bool(_WHOLE.match(key)))
