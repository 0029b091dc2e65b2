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
  (docs/bitrix24-api-notes.md#result-reference-substitution), so after a full page the bound
  is `0` + the last id (the same number) and after a short page the literal text stays, casts to
  0, and `ID < 0` matches nothing - the rest of the chain costs the portal next to nothing. Should a portal refuse that bound (an error after a full
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

from .client import Bitrix24Client, CommandError
from .errors import ApiError

logger = logging.getLogger("bitrix24")

PAGE = 50  # Bitrix's fixed page size
MAX_COMMANDS = 50  # commands per batch
MAX_COMMAND_RETRIES = 3
SUBSTITUTED = "zero-prefixed $result references resolve"  # client cache key: seen on this portal


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
    chain = _Chain.start(client, query, after=after, first_batch=first_batch, below=below, max_batch=max_batch)
    while True:
        keys, commands, plain = chain.commands()
        rows, finished = chain.take(keys, client.batch(commands, fallback=plain))
        if rows:
            yield Answer(rows, last=finished)  # every page of one answer at once: up to 2,500 rows
        if finished:
            return


@dataclass
class _Chain:
    """Where one keyset read stands: the bounds read so far, how many chained commands the next
    request carries, whether it still takes the zero-prefixed guard, and its failures in a row."""

    client: Bitrix24Client
    query: ListQuery
    down: bool  # downwards from the highest id (the guarded walk); upwards otherwise
    guarded: bool  # commands after the first carry the zero-prefixed bound
    full: int  # commands of a request once the read is under way
    size: int  # commands of the next request
    upper: Optional[int]  # downwards: rows below this id are still to read (None: from the top)
    after: int  # rows above this id are still to read
    failures: int = 0
    confirming: bool = False  # a plain request checks an empty page that followed a full one

    @classmethod
    def start(cls, client: Bitrix24Client, query: ListQuery, *, after: int, first_batch: int, below: Optional[int],
              max_batch: int) -> "_Chain":
        down = query.guard
        guarded = down and not client.is_cached(_guard_off(query))
        full = max(1, min(max_batch, MAX_COMMANDS))
        size = max(1, min(first_batch, full)) if guarded else (full if first_batch >= full else 1)
        return cls(client, query, down, guarded, full, size, upper=below, after=after)

    def commands(self) -> Tuple[List[str], Dict[str, str], Optional[Dict[str, str]]]:
        """The keys and chained commands of the next request, and the plain chain to fall back on:
        a portal that fails (5xx, HTML) on every batch carrying the zero-prefixed bound gets the
        plain chain once instead; an answer for it means the guard is off for this method."""
        keys = [f"p{k}" for k in range(self.size)]
        commands = _chain(self.query, keys, self.down, self.upper, self.after, self.guarded)
        plain = _chain(self.query, keys, self.down, self.upper, self.after, False) if self.guarded and self.size > 1 else None
        return keys, commands, plain

    def take(self, keys: List[str], answer: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], bool]:
        """The rows of one answer, up to its first short page (then the list is done), error or
        page out of order (then the next request resumes from the last good id)."""
        if answer.get("fallback"):
            self.drop_guard("batches carrying it kept failing")
        finished, check = False, False
        chunk: List[Dict[str, Any]] = []
        for k, key in enumerate(keys):
            if key in answer["result_error"]:
                self.failed(k, answer["result_error"][key])
                break
            rows = _page(self.query, answer, key)
            if rows and not self.continues(rows):
                self.failures = _out_of_order(self.query, key, self.upper if self.down else self.after, self.failures,
                                              bool(chunk))
                break
            if rows:
                self.advance(rows, k)
                chunk.extend(rows)
            if len(rows) < PAGE:
                check = self.unconfirmed_end(k, rows)
                finished = not check
                break
        if chunk:
            self.failures = 0
        self.confirming, self.size = (True, 1) if check else (False, self.full)
        return chunk, finished

    def failed(self, k: int, error: CommandError) -> None:
        if self.guarded and k > 0 and not (error.is_limit or error.is_access):
            # The previous page was full, so the bound resolved: the portal refused it.
            self.drop_guard(error)
        else:
            self.failures = _command_failed(self.client, error, self.failures)

    def continues(self, rows: List[Dict[str, Any]]) -> bool:
        """Whether a page continues the previous one (else the chain broke)."""
        first, last = _as_int(rows[0].get(self.query.id_field)), _as_int(rows[-1].get(self.query.id_field))
        if first is None or last is None:
            return False
        return (self.upper is None or first < self.upper) and last > self.after if self.down else first > self.after

    def advance(self, rows: List[Dict[str, Any]], k: int) -> None:
        last = _as_int(rows[-1].get(self.query.id_field))
        if self.down:
            self.upper = last
        else:
            self.after = last  # type: ignore[assignment]
        if self.guarded and k > 0:
            self.client.remember(SUBSTITUTED, True)  # a zero-prefixed bound resolved: trust empty pages
        if self.confirming:
            # The empty page was wrong: this portal does not substitute the bound.
            self.drop_guard("an empty page after a full one")

    def unconfirmed_end(self, k: int, rows: List[Dict[str, Any]]) -> bool:
        """The zero-prefix guard protocol. An empty guarded page right after a full one is the end of
        the list - unless the portal left the reference unresolved (then the bound read as 0 and the
        filter matched nothing). Until a guarded page of this run has come back with rows, one plain
        command tells: True = send it before believing the end."""
        return self.guarded and k > 0 and not rows and not self.confirming and not self.client.is_cached(SUBSTITUTED)

    def drop_guard(self, why: Any) -> None:
        self.client.remember(_guard_off(self.query), True)
        self.guarded = False
        logger.info("%s: the portal does not take the zero-prefixed batch reference (%s); reading without it",
                    self.query.method, why)


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


def _guard_off(query: ListQuery) -> Tuple[str, str]:
    """Client cache key: this method does not take the zero-prefixed bound on this portal."""
    return ("guard off", query.method)


def _command_failed(client: Bitrix24Client, error: CommandError, failures: int, coded_fatal: bool = False) -> int:
    """Decide about a command that failed inside a batch: pause on a limit, raise, or count one more
    retry. `coded_fatal`: any error with a code raises at once (a D7 controller's access check or
    refused filter will not pass on a retry); else only access errors do."""
    if error.is_limit:
        client.pause_method(error.method)
        return failures
    if error.is_access or (coded_fatal and error.code) or failures >= MAX_COMMAND_RETRIES:
        raise error.exception()
    logger.info("%s failed inside a batch (%s %s); retrying", error.method, error.code, error.description)
    return failures + 1


def read_per_id(
    client: Bitrix24Client,
    ids: Iterable[Any],
    make_command: Callable[[Any], str],
    *,
    follow_next: Optional[Callable[[Any, int], str]] = None,
    exists: Optional[Callable[[List[Any]], set]] = None,
) -> Iterator[Tuple[Any, Any]]:
    """Yield (id, result) for each id, running 50 commands per request; result is None for an id
    that no longer exists (checked with `exists(ids) -> ids still there`, at most 50 at a time).

    The requests are independent, so up to `client.request_concurrency` of them are in flight at
    once (`Bitrix24Client.run_commands`: each still passes the shared throttle).

    With `follow_next`, a command whose answer says there is more (`next`) is continued with
    `follow_next(id, next)` in a later request, and the pages are concatenated.
    """
    state = _PerId(make_command, follow_next, [(i, None) for i in ids])
    while state.todo:
        wave, commands = state.commands(MAX_COMMANDS * client.request_concurrency)
        done, suspects = state.take(client, wave, client.run_commands(commands))
        yield from done
        yield from _gone(suspects, exists, state.partial)


@dataclass
class _PerId:
    """Where `read_per_id` stands: the ids still to ask (with the page to continue from), the
    pages read so far of ids that page by `next`, and each id's failures."""

    make_command: Callable[[Any], str]
    follow_next: Optional[Callable[[Any, int], str]]
    todo: List[Tuple[Any, Optional[int]]]
    partial: Dict[Any, List[Any]] = field(default_factory=dict)
    failures: Dict[Any, int] = field(default_factory=dict)

    def commands(self, size: int) -> Tuple[List[Tuple[Any, Optional[int]]], Dict[str, str]]:
        wave, self.todo = self.todo[:size], self.todo[size:]
        return wave, {f"c{n}": self.make_command(i) if start is None else self.follow_next(i, start)  # type: ignore[misc]
                      for n, (i, start) in enumerate(wave)}

    def take(self, client: Bitrix24Client, wave: List[Tuple[Any, Optional[int]]],
             answer: Dict[str, Any]) -> Tuple[List[Tuple[Any, Any]], Dict[Any, CommandError]]:
        """(id, result) of every finished id of the answer, and the ids whose command said "not
        found" or "access denied"; failed and continued commands go back in front of the queue."""
        done: List[Tuple[Any, Any]] = []
        suspects: Dict[Any, CommandError] = {}
        retry: List[Tuple[Any, Optional[int]]] = []
        for n, (i, start) in enumerate(wave):
            error = answer["result_error"].get(f"c{n}")
            if error is not None and error.maybe_gone:
                suspects[i] = error
            elif error is not None:
                self.failures[i] = _command_failed(client, error, self.failures.get(i, 0))
                retry.append((i, start))
            elif self.follow_next is not None and _as_int(answer["result_next"].get(f"c{n}")):
                self.partial.setdefault(i, []).extend(answer["result"].get(f"c{n}") or [])
                retry.append((i, _as_int(answer["result_next"][f"c{n}"])))
            else:
                result = answer["result"].get(f"c{n}")
                done.append((i, self.partial.pop(i) + list(result or []) if i in self.partial else result))
        self.todo = retry + self.todo
        return done, suspects


def _gone(suspects: Dict[Any, CommandError], exists: Optional[Callable[[List[Any]], set]],
          partial: Dict[Any, List[Any]]) -> Iterator[Tuple[Any, Any]]:
    """"Not found" / "Access denied" for a parent listed moments ago: deleted since, or no right to
    read it? Ask (50 ids at a time); only the ones that are really gone are skipped (None)."""
    ids = list(suspects)
    for at in range(0, len(ids), MAX_COMMANDS):
        part = ids[at:at + MAX_COMMANDS]
        alive = exists(part) if exists else set(part)
        for i in part:
            if i in alive:
                raise suspects[i].exception()
            partial.pop(i, None)
            yield i, None


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
            lane.failures = _command_failed(client, answer["result_error"][key], lane.failures, coded_fatal=True)
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

