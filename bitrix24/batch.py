"""The batch reader: Bitrix24's fast ways to read many rows in few requests.

* `read_keyset` reads a whole list with the chained-batch keyset technique: order by ID, filter on
  the ID, `start=-1` (no COUNT query), and up to 50 list commands in one `batch` request, each
  command's bound taken from the previous command's 50th row via a `$result[...]` reference. That is
  2,500 rows per HTTP request. The chain stops at the first short page: a reference into a short
  page does not resolve, so every command after it is garbage and is ignored.
  The portal still runs those garbage commands, and a filter that resolved to an array reads the
  table from its start again: up to 49 full pages of operating time thrown away at the end of every
  read. Where the method's filter allows it, the reader therefore walks the ids *downwards*
  (`order ID DESC`, `<ID`) and writes each reference with a leading zero, `<ID=0$result[..][49][ID]`:
  Bitrix substitutes a reference embedded in a longer string only when it resolves to a scalar
  (spec §4.2), so after a full page the bound is `0` + the last id (the same number) and after a
  short page the literal text stays, casts to 0, and `ID < 0` matches nothing - the rest of the
  chain costs the portal next to nothing. Should a portal refuse that bound (an error after a full
  page) or not substitute it (an empty page after a full one, which one plain request then
  contradicts - asked until a guarded page of the run has come back with rows), or fail every batch
  that carries it with a 5xx or an HTML page (the client then sends the plain chain once, as the
  batch's `fallback`), the reader drops the zero for that method and carries on; nothing is skipped.
* `read_per_id` runs one command per parent id (a deal's product rows, say), 50 ids per request,
  several requests in flight at once (they are independent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote

from .client import Bitrix24Client
from .errors import ApiError

logger = logging.getLogger("bitrix24")

PAGE = 50  # Bitrix's fixed page size
MAX_COMMANDS = 50  # commands per batch
MAX_COMMAND_RETRIES = 3
SUBSTITUTED = "zero-prefixed $result references resolve"  # client cache key: seen on this portal
LIMIT_CODES = ("OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED")
ACCESS_CODES = ("insufficient_scope", "ACCESS_DENIED")


class Ref(str):
    """A `$result[...]` reference: sent verbatim inside a batch command."""


def php_query(params: Mapping[str, Any]) -> str:
    """Encode params the way PHP's `parse_str` reads them back (`filter[>ID]=5&select[0]=ID`)."""
    pairs: List[str] = []

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            if not value:
                return
            for sub, item in value.items():
                walk(f"{key}[{sub}]", item)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(f"{key}[{index}]", item)
        else:
            if value is None:
                text = ""
            elif isinstance(value, bool):
                text = "Y" if value else "N"
            elif isinstance(value, Ref):
                text = str(value)
            else:
                text = quote(str(value), safe="")
            pairs.append(f"{quote(key, safe='[]')}={text}")

    for name, value in params.items():
        walk(str(name), value)
    return "&".join(pairs)


def command(method: str, params: Mapping[str, Any]) -> str:
    return f"{method}?{php_query(params)}"


@dataclass
class ListQuery:
    """One keyset-pageable list: what to call and how its rows and ids look."""

    method: str
    params: Dict[str, Any] = field(default_factory=dict)  # select, order, extra top-level params
    filter: Dict[str, Any] = field(default_factory=dict)  # the caller's own conditions
    filter_key: str = "filter"  # "FILTER" for user.get and voximplant.statistic.get
    id_field: str = "ID"  # key of the id in each row
    items_key: Optional[str] = None  # "items" when the result is wrapped: {"items": [...]}
    filter_id: Optional[str] = None  # the id's name in filters when it differs from the row key (tasks: ID / id)

    guard: bool = True  # read downwards with the zero-prefixed bound (legacy CRM and D7 filters)

    def page_command(self, after: Any) -> str:
        params = dict(self.params)  # carries the order: ID ascending, in the method's own syntax
        params[self.filter_key] = {**self.filter, f">{self.filter_id or self.id_field}": after}
        params["start"] = -1
        return command(self.method, params)

    def desc_command(self, upper: Any, after: Any, guarded: bool) -> str:
        """A page of the ids below `upper` (None: from the top) and above `after`, highest first."""
        params = {k: ({f: "DESC" for f in v} if k.lower() == "order" and isinstance(v, Mapping) else v)
                  for k, v in self.params.items()}
        conditions = dict(self.filter)
        name = self.filter_id or self.id_field
        if after:
            conditions[f">{name}"] = after
        if upper is not None:  # replaces a caller's `<ID` (the chain starts below it)
            conditions[f"<{name}"] = Ref(f"0{upper}") if guarded and isinstance(upper, Ref) else upper
        params[self.filter_key] = conditions
        params["start"] = -1
        return command(self.method, params)

    def ref_to_last(self, key: str) -> Ref:
        inner = f"[{self.items_key}]" if self.items_key else ""
        return Ref(f"$result[{key}]{inner}[{PAGE - 1}][{self.id_field}]")

    def rows_of(self, result: Any) -> Any:
        if self.items_key:
            return result.get(self.items_key) if isinstance(result, dict) else None
        return result


def _as_int(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Answer(list):
    """The rows of one HTTP answer; `last` when the list ended in it (no request follows)."""

    def __init__(self, rows: List[Dict[str, Any]], last: bool = False) -> None:
        super().__init__(rows)
        self.last = last


def read_keyset(
    client: Bitrix24Client,
    query: ListQuery,
    *,
    after: int = 0,
    first_batch: int = MAX_COMMANDS,
    below: Optional[int] = None,
    max_batch: int = MAX_COMMANDS,
) -> Iterator[List[Dict[str, Any]]]:
    """Yield the rows of `query` with ids above `after`, one list per HTTP answer (up to 50 pages:
    2,500 rows); downwards from the highest id where the query takes the guard, else upwards.

    `first_batch` list commands go into the first request (fewer when few rows are expected, as on
    a routine incremental run: 10 commands, 500 rows) and later requests carry `max_batch` (50).
    Past the end of the list, a command costs the portal next to nothing with the zero-prefixed
    bound, but a page of rows without it: unguarded reads then start with a single command.
    `below`: a downward walk starts under this id (a resumed backfill), not at the top.
    """
    down = query.guard
    guard_off = ("guard off", query.method)
    guarded = down and not client.is_cached(guard_off)
    full = max(1, min(max_batch, MAX_COMMANDS))
    size = max(1, min(first_batch, full)) if guarded else (full if first_batch >= full else 1)
    upper: Optional[int] = below  # downwards: rows below this id are still to read (None: from the top)
    failures = 0
    confirming = False  # a plain request checks an empty page that followed a full one
    while True:
        keys = [f"p{k}" for k in range(size)]
        commands = _chain(query, keys, down, upper, after, guarded)
        # A portal that fails (5xx, HTML) on every batch carrying the zero-prefixed bound gets the
        # plain chain once instead; an answer for it means the guard is off for this method.
        plain = _chain(query, keys, down, upper, after, False) if guarded and size > 1 else None
        answer = client.batch(commands, fallback=plain)
        if answer.get("fallback"):
            _drop_guard(client, query, guard_off, "batches carrying it kept failing")
            guarded = False
        finished, progressed, check = False, False, False
        chunk: List[Dict[str, Any]] = []
        for k, key in enumerate(keys):
            if key in answer["result_error"]:
                error = answer["result_error"][key]
                if guarded and k > 0 and not _limit_or_access(error):
                    # The previous page was full, so the bound resolved: the portal refused it.
                    _drop_guard(client, query, guard_off, error)
                    guarded = False
                    break
                failures = _command_failed(client, query.method, error, failures)
                break
            rows = _page(query, answer, key)
            if rows:
                first, last = _as_int(rows[0].get(query.id_field)), _as_int(rows[-1].get(query.id_field))
                follows = first is not None and last is not None and (
                    (upper is None or first < upper) and last > after if down else first > after)
                if not follows:
                    # Not a continuation of the previous page: the chain broke. Resume from the last good id.
                    failures = _out_of_order(query, key, upper if down else after, failures, progressed)
                    break
                chunk.extend(rows)
                progressed = True
                if down:
                    upper = last
                else:
                    after = last
                if guarded and k > 0:
                    client.remember(SUBSTITUTED, True)  # a zero-prefixed bound resolved: trust empty pages
                if confirming:
                    # The empty page was wrong: this portal does not substitute the bound.
                    _drop_guard(client, query, guard_off, "an empty page after a full one")
                    guarded = False
            if len(rows) < PAGE:
                # An empty guarded page right after a full one is the end of the list - unless
                # the portal left the reference unresolved. Until a guarded page of this run has
                # come back with rows, one plain command tells.
                check = guarded and k > 0 and not rows and not confirming and not client.is_cached(SUBSTITUTED)
                finished = not check
                break
        confirming = False
        if chunk:
            yield Answer(chunk, last=finished)  # every page of one answer at once: up to 2,500 rows
        if finished:
            return
        if progressed:
            failures = 0
        confirming, size = (True, 1) if check else (False, full)


def _chain(query: ListQuery, keys: List[str], down: bool, upper: Optional[int], after: Any,
           guarded: bool) -> Dict[str, str]:
    """The chained list commands of one batch: each bound refers to the previous page's last id."""
    return {
        key: query.desc_command(upper if k == 0 else query.ref_to_last(keys[k - 1]), after, guarded) if down
        else query.page_command(after if k == 0 else query.ref_to_last(keys[k - 1]))
        for k, key in enumerate(keys)
    }


def _out_of_order(query: ListQuery, key: str, bound: Any, failures: int, progressed: bool) -> int:
    """A page that does not continue the previous one: resume from the last good id - but a portal
    that keeps answering out of order (an id filter it ignores) must not keep the reader looping."""
    logger.debug("%s: page %s does not follow id %s; resuming", query.method, key, bound)
    if progressed:
        return failures
    if failures >= MAX_COMMAND_RETRIES:
        raise ApiError(
            f"Bitrix24 {query.method} keeps answering pages that do not follow id {bound}: the portal seems to"
            " ignore the id filter, so the stream cannot be read completely. Please report this portal's version.",
            method=query.method,
        )
    return failures + 1


def _page(query: ListQuery, answer: Dict[str, Any], key: str) -> List[Dict[str, Any]]:
    rows = query.rows_of(answer["result"].get(key))
    if rows is None or isinstance(rows, dict) and not rows:
        return []  # an empty PHP array may come back as {} or []
    if not isinstance(rows, list):
        raise ApiError(f"Bitrix24 {query.method} returned an unexpected result ({type(rows).__name__})",
                       method=query.method)
    return rows


def _drop_guard(client: Bitrix24Client, query: ListQuery, key: Any, why: Any) -> None:
    client.remember(key, True)
    logger.info("%s: the portal does not take the zero-prefixed batch reference (%s); reading without it",
                query.method, why)


def _limit_or_access(error: Any) -> bool:
    error = error if isinstance(error, dict) else {"error": "", "error_description": str(error)}
    code = str(error.get("error") or "")
    return code in LIMIT_CODES + ACCESS_CODES or "Access denied" in str(error.get("error_description") or "")


def _command_failed(client: Bitrix24Client, method: str, error: Any, failures: int, coded_fatal: bool = False) -> int:
    """Decide about a command that failed inside a batch: pause on a limit, raise, or count one more
    retry. `coded_fatal`: any error with a code raises at once (a D7 controller's access check or
    refused filter will not pass on a retry); else only access errors do."""
    error = error if isinstance(error, dict) else {"error": "", "error_description": str(error)}
    code = str(error.get("error") or "")
    description = str(error.get("error_description") or "")
    if code in LIMIT_CODES:
        client.pause_method(method)
        return failures
    if code in ACCESS_CODES or "Access denied" in description or (coded_fatal and code):
        client.raise_command_error(method, error)
    failures += 1
    if failures > MAX_COMMAND_RETRIES:
        client.raise_command_error(method, error)
    logger.info("%s failed inside a batch (%s %s); retrying", method, code, description)
    return failures


def _maybe_gone(error: Any) -> bool:
    text = str(error.get("error_description") if isinstance(error, dict) else error).lower()
    code = str(error.get("error") if isinstance(error, dict) else "")
    return code == "NOT_FOUND" or text.startswith("not found") or text.startswith("access denied")


def read_per_id(
    client: Bitrix24Client,
    ids: Iterable[Any],
    make_command: Callable[[Any], str],
    *,
    method: str,
    follow_next: Optional[Callable[[Any, int], str]] = None,
    exists: Optional[Callable[[List[Any]], set]] = None,
) -> Iterator[Tuple[Any, Any]]:
    """Yield (id, result) for each id, running 50 commands per request; result is None for an id
    that no longer exists (checked with `exists(ids) -> ids still there`).

    The requests are independent, so up to `client.request_concurrency` of them are in flight at
    once (`Bitrix24Client.batches`: each still passes the shared throttle); answers are handled,
    and ids yielded, in order.

    With `follow_next`, a command whose answer says there is more (`next`) is continued with
    `follow_next(id, next)` in a later request, and the pages are concatenated.
    """
    todo: List[Tuple[Any, Optional[int]]] = [(i, None) for i in ids]
    partial: Dict[Any, List[Any]] = {}
    failures: Dict[Any, int] = {}
    while todo:
        take = min(len(todo), MAX_COMMANDS * client.request_concurrency)
        wave = [todo[at:at + MAX_COMMANDS] for at in range(0, take, MAX_COMMANDS)]
        todo = todo[take:]
        requests = [
            {f"c{n}": make_command(i) if start is None else follow_next(i, start)  # type: ignore[misc]
             for n, (i, start) in enumerate(chunk)}
            for chunk in wave
        ]
        retry: List[Tuple[Any, Optional[int]]] = []
        for chunk, answer in zip(wave, client.batches(requests)):
            suspects: Dict[Any, Any] = {}
            for n, (i, start) in enumerate(chunk):
                key = f"c{n}"
                if key in answer["result_error"]:
                    error = answer["result_error"][key]
                    if _maybe_gone(error):
                        suspects[i] = error
                        continue
                    failures[i] = _command_failed(client, method, error, failures.get(i, 0))
                    retry.append((i, start))
                    continue
                result = answer["result"].get(key)
                nxt = _as_int(answer["result_next"].get(key))
                if follow_next is not None and nxt:
                    partial.setdefault(i, []).extend(result or [])
                    retry.append((i, nxt))
                    continue
                if i in partial:
                    result = partial.pop(i) + list(result or [])
                yield i, result
            if suspects:
                # "Not found" / "Access denied" for a parent listed moments ago: deleted since, or no
                # right to read it? Ask once; only the ones that are really gone are skipped.
                alive = exists(list(suspects)) if exists else set(suspects)
                for i, error in suspects.items():
                    if i in alive:
                        client.raise_command_error(method, error)
                    partial.pop(i, None)
                    yield i, None
        todo = retry + todo


@dataclass
class _Lane:
    """One short list of `read_lanes`: where its keyset stands and how much it has read."""

    query: ListQuery
    weight: float  # the rows the caller expects the list to hold (a guess; corrected as lists end)
    after: int = 0
    rows: int = 0
    done: bool = False
    failures: int = 0


def read_lanes(
    client: Bitrix24Client, queries: List[ListQuery], weights: List[float]
) -> Iterator[Tuple[int, List[Dict[str, Any]]]]:
    """Read several short keyset lists side by side: yield (index of the query, rows) per answer.

    One list rarely fills a batch (200 deals have a few hundred product rows), so each request
    shares its 50 commands among the lists still open - each gets an ascending chain on `>id`,
    sized by what it is expected to hold (its weight, then the rows per weight of the lists that
    have ended) - and a batch stays near 2,500 rows whatever the lists' sizes. Chains are plain
    (no zero-prefixed guard): the commands after a short page carry an array bound, which the D7
    controllers refuse at once, so the tail costs the portal next to nothing.
    """
    lanes = [_Lane(q, float(w)) for q, w in zip(queries, weights)]
    while True:
        live = [n for n, lane in enumerate(lanes) if not lane.done]
        if not live:
            return
        slots = _share([_expected_pages(lanes, n) for n in live], MAX_COMMANDS)
        commands: Dict[str, str] = {}
        plan: List[Tuple[int, List[str]]] = []
        for n, size in zip(live, slots):
            keys = [f"l{n}p{k}" for k in range(size)]
            query = lanes[n].query
            for k, key in enumerate(keys):
                commands[key] = query.page_command(lanes[n].after if k == 0 else query.ref_to_last(keys[k - 1]))
            if keys:
                plan.append((n, keys))
        answer = client.batch(commands)
        for n, keys in plan:
            rows = _lane_pages(client, lanes[n], keys, answer)
            if rows:
                yield n, rows


def _expected_pages(lanes: List[_Lane], n: int) -> float:
    """Pages list `n` still holds by its weight (the rows the caller expects), corrected by how the
    lists that have ended compared with theirs; plus one for the short last page."""
    ended = [lane for lane in lanes if lane.done]
    expected = sum(lane.weight for lane in ended)
    ratio = sum(lane.rows for lane in ended) / expected if ended and expected > 0 else 1.0
    lane = lanes[n]
    return max(lane.weight * ratio - lane.rows, 0.0) / PAGE + 1


def _share(needs: List[float], total: int) -> List[int]:
    """Split `total` commands in proportion to `needs` (pages), at least one each (first come, if
    too few) and at most one more than a list is expected to need."""
    if len(needs) >= total:
        return [1 if n < total else 0 for n in range(len(needs))]
    spare, whole = total - len(needs), sum(needs)
    quotas = [spare * need / whole for need in needs]
    slots = [1 + int(q) for q in quotas]
    left = total - sum(slots)
    for n in sorted(range(len(needs)), key=lambda i: quotas[i] - int(quotas[i]), reverse=True)[:left]:
        slots[n] += 1
    return [min(s, int(need) + 2) for s, need in zip(slots, needs)]


def _lane_pages(client: Bitrix24Client, lane: _Lane, keys: List[str], answer: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The rows of one list's chain in an answer, up to its first short page (the end) or error."""
    out: List[Dict[str, Any]] = []
    for key in keys:
        if key in answer["result_error"]:
            lane.failures = _command_failed(client, lane.query.method, answer["result_error"][key], lane.failures,
                                            coded_fatal=True)
            break
        rows = _page(lane.query, answer, key)
        first = _as_int(rows[0].get(lane.query.id_field)) if rows else None
        if rows and (first is None or first <= lane.after):
            lane.failures = _out_of_order(lane.query, key, lane.after, lane.failures, bool(out))
            break
        if rows:
            out.extend(rows)
            lane.after = _as_int(rows[-1].get(lane.query.id_field)) or lane.after
            lane.failures = 0
        if len(rows) < PAGE:
            lane.done = True
            break
    lane.rows += len(out)
    return out

