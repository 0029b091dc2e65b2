"""Which streams a run builds: the stream table filtered by flags, selection, scopes and the
portal's SPA types. Everything here runs while the source is built, before any data is read.
"""

import logging
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .client import Bitrix24Client
from .errors import ApiError, ConfigurationError, MethodNotFoundError, ScopeError
from .settings import STREAMS, STREAMS_BY_NAME, Stream, spa_streams

logger = logging.getLogger("bitrix24")

SPA_NAME = re.compile(r"^spa_(fields_|categories_)?\d+$")


def _as_list(value: Any) -> List[str]:
    if value is None:
        return []
    return [s.strip() for s in value.split(",")] if isinstance(value, str) else [str(s) for s in value]


def known_names(spa_ids: Optional[List[int]]) -> List[str]:
    names = [s.name for s in STREAMS]
    return names + [s.name for i in (spa_ids or []) for s in spa_streams(i)]


def incremental_names(spa_ids: Optional[List[int]]) -> List[str]:
    every = list(STREAMS) + [s for i in (spa_ids or []) for s in spa_streams(i)]
    return [s.name for s in every if s.incremental_capable]


def check_categories_exist(client: Bitrix24Client, wanted: Sequence[int]) -> None:
    """`deal_category_ids` must name pipelines the portal has (one `crm.category.list` call)."""
    try:
        envelope = client.call("crm.category.list", {"entityTypeId": 2})
    except (ApiError, MethodNotFoundError) as exc:
        logger.info("could not list deal pipelines to check deal_category_ids (%s)", exc)
        return
    result = envelope.get("result") or {}
    categories = result.get("categories", []) if isinstance(result, dict) else []
    known = {int(c["id"]) for c in categories if isinstance(c, dict) and "id" in c}
    unknown = [i for i in wanted if i not in known]
    if known and unknown:
        raise ConfigurationError(
            f"sources.bitrix24.deal_category_ids names pipelines the portal does not have:"
            f" {', '.join(map(str, unknown))}. The portal's deal pipelines are: {', '.join(map(str, sorted(known)))}."
        )


def _wants_spa(requested: Optional[List[str]]) -> bool:
    return requested is None or any(n.startswith("spa_") for n in requested)


def discover_spa_types(client: Bitrix24Client, scopes: Sequence[str]) -> Optional[List[int]]:
    """entityTypeIds of the portal's smart processes; None (with a warning) if the webhook may not list them."""
    if "crm" not in scopes:
        return []
    ids: List[int] = []
    start: Optional[int] = 0
    try:
        while start is not None:
            envelope = client.call("crm.type.list", {"order": {"id": "ASC"}, "start": start})
            result = envelope.get("result") or {}
            types = result.get("types", []) if isinstance(result, dict) else []
            ids.extend(int(t["entityTypeId"]) for t in types if isinstance(t, dict) and t.get("entityTypeId"))
            start = int(envelope["next"]) if envelope.get("next") else None
    except ApiError as exc:
        logger.warning(
            "SPA (smart process) streams skipped: the webhook may not list SPA types (%s). crm.type.list"
            " needs a webhook created by a CRM administrator; or set sources.bitrix24.spa_entity_type_ids.",
            exc.description or exc.code,
        )
        return None
    return sorted(set(ids))


def has_scope(stream: Stream, scopes: Sequence[str], requested: Optional[Sequence[str]]) -> bool:
    """Whether the webhook may read the stream; raises if the user selected it by name."""
    if any(scope in scopes for scope in stream.scope):
        return True
    if requested is not None and stream.name in requested:
        raise ScopeError(
            f"Stream {stream.name} was selected but the webhook lacks the scope"
            f" {' or '.join(stream.scope)}. Edit the inbound webhook in Bitrix24 and tick it,"
            " or leave the stream out.",
            scope=stream.scope[0],
            method=stream.method,
        )
    return False


def plan_streams(
    candidates: Sequence[Stream], options: Any, scopes: Optional[List[str]]
) -> List[Stream]:
    """The streams to build: on by their flag, selected, and (unless `scopes` is None, when the
    readers check at run time) readable with the webhook's scopes."""
    requested = list(options.requested) if options.requested is not None else None
    wanted = set(requested) if requested is not None else None
    if wanted is not None:  # a sub-resource needs its parent's rows, so the parent comes along
        wanted |= {s.parent for s in candidates if s.name in wanted and s.parent}
        wanted |= {s.name for s in candidates if s.table in wanted}  # deal_comments brings its sweep
    chosen, missing = [], {}
    for stream in candidates:
        if not options.enabled(stream.option):
            continue
        if wanted is not None and stream.name not in wanted:
            continue
        if scopes is not None and not has_scope(stream, scopes, requested):
            missing.setdefault(stream.scope[0], []).append(stream.name)
            continue
        chosen.append(stream)
    if missing:
        logger.warning(
            "Streams skipped because the webhook lacks their scope: %s. Add the scope to the inbound"
            " webhook in Bitrix24 to load them.",
            "; ".join(f"{', '.join(names)} (scope {scope})" for scope, names in missing.items()),
        )
    return chosen




def fields_methods_of(streams: Sequence[Stream]) -> Tuple[str, ...]:
    """The `.fields` methods these streams need (for typing, or as their own rows)."""
    return tuple(dict.fromkeys(s.method if s.reader == "fields" else s.fields_method
                               for s in streams if s.reader == "fields" or s.fields_method))


def switched_on(flags: Dict[str, bool], requested: Optional[List[str]]) -> Dict[str, bool]:
    """The source flags with those of the sub-resource streams named in `streams` switched on:
    naming a stream asks for it (the library and the command line alike)."""
    named = {STREAMS_BY_NAME[n].option for n in requested or () if n in STREAMS_BY_NAME}
    return {flag: bool(on) or flag in named for flag, on in flags.items()}


def choose_streams(client: Bitrix24Client, options: Any) -> List[Stream]:
    """The stream rows to build for this run.

    By default this asks the portal for the webhook's scopes and its SPA types. With `spa_ids`
    configured it makes no request at all (an orchestrator may build the source while parsing a
    DAG): the readers then check scopes when they run.
    """
    requested, spa_ids = options.requested, list(options.spa_ids) if options.spa_ids is not None else None
    # the `.fields` of every stream that may run ride along with the scope request
    client.fields_methods = fields_methods_of(plan_streams(STREAMS, options, None))
    scopes = client.scopes() if spa_ids is None else None
    candidates: Tuple[Stream, ...] = STREAMS
    if spa_ids is None:
        spa_ids = discover_spa_types(client, scopes) if _wants_spa(requested) else []
        if spa_ids is None:  # the webhook may not list SPA types: leave spa_types out too
            candidates, spa_ids = tuple(s for s in STREAMS if s.name != "spa_types"), []
    spa_rows = tuple(s for i in spa_ids for s in spa_streams(i))
    missing_spa = [n for n in requested or () if SPA_NAME.match(n) and n not in {s.name for s in spa_rows}]
    if missing_spa:
        raise ConfigurationError(
            f"Stream(s) {', '.join(missing_spa)} name SPA types the portal does not have (or the webhook may"
            f" not list); SPA types found: {', '.join(map(str, spa_ids)) or 'none'}."
        )
    chosen = plan_streams(candidates + spa_rows, options, scopes)
    client.fields_methods = fields_methods_of(chosen)
    if options.deal_category_ids and scopes is not None and any(s.name == "deals" for s in chosen):
        check_categories_exist(client, options.deal_category_ids)
    return chosen
