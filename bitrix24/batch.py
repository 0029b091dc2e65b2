"""The batch reader: Bitrix24's fast ways to read many rows in few requests.

* `read_keyset` reads a whole list with the chained-batch keyset technique: order by ID ascending,
  filter `>ID`, `start=-1` (no COUNT query), and up to 50 list commands in one `batch` request, each
  command's `>ID` taken from the previous command's 50th row via a `$result[...]` reference. That is
  2,500 rows per HTTP request. The chain stops at the first short page: a reference into a short
  page does not resolve, so every command after it is garbage and is ignored.
* `read_per_id` runs one command per parent id (a deal's product rows, say), 50 ids per request.
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

    def page_command(self, after: Any) -> str:
        params = dict(self.params)  # carries the order: ID ascending, in the method's own syntax
        params[self.filter_key] = {**self.filter, f">{self.id_field}": after}
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


def read_keyset(
    client: Bitrix24Client,
    query: ListQuery,
    *,
    after: int = 0,
    first_batch: int = MAX_COMMANDS,
    extra: Optional[Mapping[str, str]] = None,
    on_extra: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Iterator[List[Dict[str, Any]]]:
    """Yield the rows of `query` in ID order, starting after id `after`, one list per HTTP answer
    (up to 50 pages: 2,500 rows).

    `first_batch` list commands go into the first request (use 1 when few rows are expected, as on
    an incremental run); later requests carry 50. `extra` commands (e.g. the entity's `.fields`)
    ride along in the first request; their answers go to `on_extra` as a batch result.
    """
    size = max(1, min(first_batch, MAX_COMMANDS - len(extra or {})))
    pending_extra = dict(extra or {})
    failures = 0
    while True:
        commands: Dict[str, str] = dict(pending_extra)
        keys = [f"p{k}" for k in range(size)]
        for k, key in enumerate(keys):
            commands[key] = query.page_command(after if k == 0 else query.ref_to_last(keys[k - 1]))
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
                rows = []  # an empty PHP array may come back as {} or []
            if not isinstance(rows, list):
                raise ApiError(
                    f"Bitrix24 {query.method} returned an unexpected result ({type(rows).__name__})",
                    method=query.method,
                )
            if rows:
                first, last = _as_int(rows[0].get(query.id_field)), _as_int(rows[-1].get(query.id_field))
                if first is None or last is None or first <= after:
                    # Not a continuation of the previous page: the chain broke. Resume from `after`.
                    logger.debug("%s: page %s does not follow id %s; resuming", query.method, key, after)
                    break
                chunk.extend(rows)
                after, progressed = last, True
            if len(rows) < PAGE:
                finished = True
                break
        if chunk:
            yield chunk  # every page of one answer at once: up to 2,500 rows
        if finished:
            return
        if progressed:
            failures = 0
        size = MAX_COMMANDS


def _command_failed(client: Bitrix24Client, method: str, error: Any, failures: int) -> int:
    """Decide about a command that failed inside a batch: raise, or count one more retry."""
    error = error if isinstance(error, dict) else {"error": "", "error_description": str(error)}
    code = str(error.get("error") or "")
    description = str(error.get("error_description") or "")
    if code in ("OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED"):
        client.pause_method(method)
        return failures
    if code in ("insufficient_scope", "ACCESS_DENIED") or "Access denied" in description:
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

    With `follow_next`, a command whose answer says there is more (`next`) is continued with
    `follow_next(id, next)` in a later request, and the pages are concatenated.
    """
    todo: List[Tuple[Any, Optional[int]]] = [(i, None) for i in ids]
    partial: Dict[Any, List[Any]] = {}
    failures: Dict[Any, int] = {}
    suspects: Dict[Any, Any] = {}
    while todo:
        chunk, todo = todo[:MAX_COMMANDS], todo[MAX_COMMANDS:]
        commands = {
            f"c{n}": make_command(i) if start is None else follow_next(i, start)  # type: ignore[misc]
            for n, (i, start) in enumerate(chunk)
        }
        answer = client.batch(commands)
        retry: List[Tuple[Any, Optional[int]]] = []
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
            suspects = {}
        todo = retry + todo
