"""Prototype fixes for the connector, applied by monkeypatching (bench only; `contenders.py --patch NAME`).

`ours_proto` in the results = `desc_chain` + `open_lower_bound` (+ dlt `[load] workers = 2`). `hints_once`
and `contacts_bulk` were measured on the connector before it yielded one list per keyset answer and read
CONTACT_IDS through `crm.item.list` (both now committed); they are kept for reference and no longer applied.

``desc_chain`` - the chained keyset batch without the wasted tail.

Today ``bitrix24.batch.read_keyset`` chains 50 ``>ID`` page commands per batch, command k filtering
``>ID = $result[p{k-1}][49][ID]``. When page k-1 is short (the end of the table), that reference
cannot resolve, Bitrix substitutes the whole page array, the filter is garbage and *every later
command of the batch still runs* - on the portal (and in the simulator) it reads the first pages of
the table again, paying full operating time for up to 49 pages that the connector then ignores.

The prototype reads each list in *descending* ID order with ``<ID`` windows and embeds the reference
in a longer string, ``<ID = 0$result[p{k-1}][49][ID]``. Spec §4.2: a reference embedded in a longer
string is substituted only when it resolves to a scalar; otherwise the literal text stays. So a full
previous page gives ``"0" + "12345"`` (PHP intval: 12345) and a short one leaves ``"0$result[...]"``
(intval: 0): ``ID < 0`` matches nothing and the rest of the chain costs ~0.02 s a command (under the
0.1 s recording threshold) instead of a full page each. Requests are unchanged.
UNCONFIRMED on a real portal: that the legacy CRM filter casts the literal to 0 (intval) rather than
rejecting it; the connector must keep ignoring commands after a short page either way.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

logger = logging.getLogger("bitrix24")


def _descending(params: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in params.items():
        if key.lower() == "order" and isinstance(value, Mapping):
            out[key] = {k: "DESC" for k in value}
        elif key.upper() == "ORDER" and isinstance(value, str):
            out[key] = "DESC"
        else:
            out[key] = value
    return out


def apply_desc_chain() -> None:
    from bitrix24 import batch, streams
    from bitrix24.batch import MAX_COMMANDS, PAGE, ApiError, Ref, _as_int, _command_failed, command

    def page_command(self, after: Any, upper: Any = None) -> str:
        params = _descending(self.params)
        flt = dict(self.filter)
        if after:
            flt[f">{self.id_field}"] = after
        if upper is not None:
            flt[f"<{self.id_field}"] = upper
        params[self.filter_key] = flt
        params["start"] = -1
        return command(self.method, params)

    def ref_to_last(self, key: str) -> Ref:
        inner = f"[{self.items_key}]" if self.items_key else ""
        return Ref(f"0$result[{key}]{inner}[{PAGE - 1}][{self.id_field}]")

    def read_keyset(client, query, *, after: int = 0, first_batch: int = MAX_COMMANDS,
                    extra: Optional[Mapping[str, str]] = None,
                    on_extra: Optional[Callable[[Dict[str, Any]], None]] = None) -> Iterator[List[Dict[str, Any]]]:
        size = max(1, min(first_batch, MAX_COMMANDS - len(extra or {})))
        pending_extra = dict(extra or {})
        failures = 0
        upper: Optional[int] = None  # rows below this id are still to read (None: from the top)
        while True:
            commands: Dict[str, str] = dict(pending_extra)
            keys = [f"p{k}" for k in range(size)]
            for k, key in enumerate(keys):
                commands[key] = query.page_command(after, upper if k == 0 else query.ref_to_last(keys[k - 1]))
            answer = client.batch(commands)
            if pending_extra and on_extra:
                on_extra(answer)
            pending_extra = {}
            finished, progressed = False, False
            chunk: List[Dict[str, Any]] = []
            for key in keys:
                if key in answer["result_error"]:
                    failures = _command_failed(client, query.method, answer["result_error"][key], failures)
                    break
                rows = query.rows_of(answer["result"].get(key))
                if rows is None or isinstance(rows, dict) and not rows:
                    rows = []
                if not isinstance(rows, list):
                    raise ApiError(f"Bitrix24 {query.method} returned an unexpected result ({type(rows).__name__})",
                                   method=query.method)
                if rows:
                    first, last = _as_int(rows[0].get(query.id_field)), _as_int(rows[-1].get(query.id_field))
                    if first is None or last is None or (upper is not None and first >= upper) or last <= after:
                        logger.debug("%s: page %s does not follow id %s; resuming", query.method, key, upper)
                        break
                    chunk.extend(rows)
                    upper, progressed = last, True
                if len(rows) < PAGE:
                    finished = True
                    break
            if chunk:
                yield chunk  # one list per HTTP answer, like the connector's reader
            if finished:
                return
            if progressed:
                failures = 0
            size = MAX_COMMANDS

    batch.ListQuery.page_command = page_command
    batch.ListQuery.ref_to_last = ref_to_last
    batch.read_keyset = read_keyset
    streams.read_keyset = read_keyset


def apply_hints_once() -> None:
    """``hints_once`` - column hints on a sub-resource's first page only.

    ``streams.per_deal`` wraps every page it yields (one per 50 deals) in ``dlt.mark.with_hints``;
    dlt then recomputes and re-validates the table schema for each of them (``compute_table_schema``
    -> ``validate_dict``, ~17 ms a page with ~30 typed columns): about half of the client's CPU on a
    full sync. The prototype marks only the first page of each sub-resource stream in a run.
    """
    from bitrix24 import streams

    original = streams.per_deal
    marked: set = set()

    def per_deal(deals, client, stream, options):
        key = (id(client), stream.name)
        for item in original(deals, client, stream, options):
            if key in marked:
                item = getattr(item, "data", item)  # drop the hints wrapper: plain rows
            marked.add(key)
            yield item

    streams.READERS["per_deal"] = per_deal


def apply_contacts_bulk() -> None:
    """``contacts_bulk`` - CONTACT_IDS for 2,500 deals per request instead of 50.

    ``extract_deal_contacts`` calls ``crm.deal.contact.items.get`` once per deal (50 per request). The
    D7 ``crm.item.list`` (entityTypeId 2) returns ``contactIds`` for 50 deals per command; the
    prototype buffers up to 50 deal pages (one keyset batch, 2,500 deals) and fills CONTACT_IDS with
    one batch of ``crm.item.list?filter[@id]=...&select=[id, contactIds]`` commands.
    Caveat: contactIds gives the ids only (no SORT / IS_PRIMARY); the order is the portal's.
    """
    from bitrix24 import streams
    from bitrix24.batch import MAX_COMMANDS, PAGE, command
    from bitrix24.fields import to_int

    inner_read = streams.read_keyset

    def fill(client, rows: List[Dict[str, Any]]) -> None:
        ids = [r["ID"] for r in rows]
        chunks = [ids[i:i + PAGE] for i in range(0, len(ids), PAGE)]
        commands = {f"c{n}": command("crm.item.list", {"entityTypeId": 2, "select": ["id", "contactIds"],
                                                       "filter": {"@id": chunk}, "order": {"id": "ASC"},
                                                       "start": -1})
                    for n, chunk in enumerate(chunks)}
        answer = client.batch(commands)
        found: Dict[Any, Any] = {}
        for key in commands:
            result = answer["result"].get(key) or {}
            for item in (result.get("items") or []) if isinstance(result, dict) else []:
                found[to_int(item.get("id"))] = [to_int(c) for c in item.get("contactIds") or []] or None
        for r in rows:
            r["CONTACT_IDS"] = found.get(to_int(r["ID"]))

    def read_keyset(client, query, **kw):
        pages = inner_read(client, query, **kw)
        if query.method != "crm.deal.list" or not query.params.get("select") or \
                list(query.params.get("select")) == [query.id_field]:
            yield from pages
            return
        buffer: List[List[Dict[str, Any]]] = []
        for page in pages:
            buffer.append(page)
            if len(buffer) >= MAX_COMMANDS:
                fill(client, [r for p in buffer for r in p])
                yield from buffer
                buffer = []
        if buffer:
            fill(client, [r for p in buffer for r in p])
            yield from buffer

    def no_page_fix(client, stream, options, rows) -> None:
        return None

    streams.read_keyset = read_keyset
    streams.PAGE_FIXES["deals"] = no_page_fix


def apply_open_lower_bound() -> None:
    """``open_lower_bound`` - incremental windows ``> last value`` instead of ``>= last value``.

    Every run's window is bounded above by the portal's clock (``< now``, whole seconds), so every row
    whose cursor equals the last value loaded was already visible to, and loaded by, the previous
    run. The closed lower bound re-reads all rows that share the last second - after a bulk edit,
    hundreds of rows (dlt drops them as duplicates, but they are requested, and deal contacts are
    fetched for them before dlt's dedup). The prototype rewrites the ``>=cursor`` filter of keyset
    reads to ``>cursor`` (dlt's closed range and dedup stay as they are, and see nothing to drop).
    """
    from bitrix24 import streams

    inner_read = streams.read_keyset

    def read_keyset(client, query, **kw):
        for key in [k for k in query.filter if k.startswith(">=")]:
            query.filter[">" + key[2:]] = query.filter.pop(key)
        return inner_read(client, query, **kw)

    streams.read_keyset = read_keyset


def apply_pooled_sub_resources(workers: int = 4) -> None:
    """``pooled_sub_resources`` - the 50-deal chunks of one sub-resource call sent concurrently.

    A transformer call of ``per_deal`` now receives one keyset answer (up to 2,500 deals) and sends
    its 50 chunk requests one after another, each waiting ~1 s of portal time (50 commands x 0.02 s),
    while dlt's main thread (where transformers run) is blocked - so the parallelized list streams
    cannot advance either. The prototype runs ``read_per_id`` on each 50-deal chunk in a small thread
    pool (the connector's throttle is shared and thread-safe) and yields the results in order.
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


PATCHES = {"pooled_sub_resources": apply_pooled_sub_resources, "desc_chain": apply_desc_chain, "hints_once": apply_hints_once, "contacts_bulk": apply_contacts_bulk,
           "open_lower_bound": apply_open_lower_bound}


def apply(names: str) -> None:
    for name in [n for n in names.split(",") if n]:
        PATCHES[name]()
