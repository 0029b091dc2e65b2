"""Constants and helpers shared by the data generators."""
from __future__ import annotations

from typing import Callable, Sequence

DAY = 86400
PORTAL_HOST = "simportal.bitrix24.test"
# entity -> the code mixed into its random streams (`mix`); others get a crc32-based code (World._code)
ENT_CODE = {"lead": 1, "deal": 2, "contact": 3, "company": 4, "activity": 6, "product": 7, "user": 11,
            "department": 12, "call": 13, "openline": 14, "comment": 15, "prow": 16, "uf": 17,
            "spa128": 128, "spa1032": 1032}


def mix(seed: int, code: int, id_: int) -> int:
    """The seed of one row's Random: a function of the portal seed, the entity and the row id."""
    return ((seed & 0xFFFFFFFF) * 1_000_003 + code) * 10_000_019 + id_


def weighted(rnd: Callable[[], float], weights: Sequence[float]) -> int:
    """An index drawn with the given weights."""
    total = sum(weights)
    x = rnd() * total
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return len(weights) - 1
