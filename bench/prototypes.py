"""Prototype fixes for the connector, applied by monkeypatching (bench only; `contenders.py --patch NAME`).

A fix is measured here before it goes into `bitrix24/`. Adopted and removed since the first runs:
`desc_chain` (the chain's tail made free by a zero-prefixed reference; now `batch._read_down`, with
a fallback for portals that do not substitute it), `open_lower_bound` (routine incremental windows
start after the last value), `contacts_bulk` (CONTACT_IDS from `crm.item.list`, 2,500 deals a
request) and `hints_once` (made moot when transformers got one keyset answer per call).
"""
from __future__ import annotations

import logging

logger = logging.getLogger("bitrix24")


def apply_pooled_sub_resources(workers: int = 4) -> None:
    """``pooled_sub_resources`` - the 50-deal chunks of one sub-resource call sent concurrently.

    A transformer call of ``per_deal`` receives one keyset answer (up to 2,500 deals) and sends its 50
    chunk requests one after another, each waiting ~1 s of portal time (50 commands x 0.02 s). The
    calls themselves run in dlt's thread pool (parallelized transformers), but a single call is
    sequential. The prototype runs ``read_per_id`` on each 50-deal chunk in a small thread pool (the
    connector's throttle is shared and thread-safe) and yields the results in order.
    """
    from concurrent.futures import ThreadPoolExecutor

    from bitrix24 import streams
    from bitrix24.batch import MAX_COMMANDS

    inner = streams.read_per_id
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bitrix24-sub")

    def read_per_id(client, ids, make_command, **kw):
        ids = list(ids)
        chunks = [ids[i:i + MAX_COMMANDS] for i in range(0, len(ids), MAX_COMMANDS)]
        if len(chunks) <= 1:
            yield from inner(client, ids, make_command, **kw)
            return
        for result in pool.map(lambda chunk: list(inner(client, chunk, make_command, **kw)), chunks):
            yield from result

    streams.read_per_id = read_per_id


PATCHES = {"pooled_sub_resources": apply_pooled_sub_resources}


def apply(names: str) -> None:
    for name in [n for n in names.split(",") if n]:
        PATCHES[name]()
