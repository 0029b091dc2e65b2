"""Prototype fixes for the connector, applied by monkeypatching (bench only; `contenders.py --patch NAME`).

A fix is measured here before it goes into `bitrix24/`. Adopted and removed since the first runs:
`desc_chain` (the chain's tail made free by a zero-prefixed reference; now `batch._read_down`, with
a fallback for portals that do not substitute it), `open_lower_bound` (routine incremental windows
start after the last value), `contacts_bulk` (CONTACT_IDS from `crm.item.list`, 2,500 deals a
request), `hints_once` (made moot when transformers got one keyset answer per call) and
`pooled_sub_resources` (each call's 50-deal chunks sent several at a time; now
`Bitrix24Client.batches` and `request_concurrency`).
"""
from __future__ import annotations

PATCHES: dict = {}  # name -> function that applies it; none pending


def apply(names: str) -> None:
    for name in [n for n in names.split(",") if n]:
        PATCHES[name]()
