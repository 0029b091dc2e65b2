"""Loads a Bitrix24 portal's CRM, users, telephony and open lines, typed and incremental.

Into any destination dlt supports.

The source reads through an inbound webhook (`https://PORTAL/rest/USER_ID/CODE/`) or with an
application's OAuth credentials (`[sources.bitrix24.credentials]`, rotated tokens kept in a token
store: `oauth.py`, `tokens.py`), and uses
Bitrix24's own fast paths: `batch` requests of up to 50 commands, keyset paging (`>ID`, `start=-1`,
no counting) chained by `$result[...]` references — 2,500 rows per HTTP request — under one
request-rate throttle shared by every thread.

    import dlt
    from bitrix24 import bitrix24_source

    pipeline = dlt.pipeline("bitrix24", destination="duckdb", dataset_name="bitrix24_data")
    pipeline.run(bitrix24_source())

Configuration comes from `.dlt/config.toml`, `.dlt/secrets.toml` or environment variables, section
`[sources.bitrix24]`; see the README for every key. The stream table is in `settings.py`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any, Dict, Iterator, List, Optional, Sequence

import dlt
from dlt.extract.resource import DltResource

from .auth import make_client, resolve_auth
from .backfill import SliceReport, pending_backfills, run_in_slices
from .client import Bitrix24Client, latest_client
from .config import (
    check_category_ids,
    check_deal_products_method,
    check_detect_deletes,
    check_end_date,
    check_number,
    check_refresh_runs,
    check_spa_ids,
    check_start_date,
    check_streams,
    check_sync_types,
)
from .errors import (
    ApiError,
    AuthError,
    Bitrix24Error,
    ConfigurationError,
    MethodNotFoundError,
    OAuthError,
    RetryBudgetExceeded,
    ScopeError,
)
from .isolation import Isolation, StateGuard, run_child, run_stream
from .oauth import Bitrix24OAuthCredentials
from .plan import SPA_NAME, _as_list, choose_streams, incremental_names, known_names, switched_on
from .settings import STREAMS, Stream
from .streams import READERS, Options
from .tokens import FileTokenStore, TokenStore
from .views import create_labeled_views, drop_labeled_views

logger = logging.getLogger("bitrix24")

__all__ = [
    "bitrix24_source",
    "Bitrix24Client",
    "Bitrix24Error",
    "ConfigurationError",
    "AuthError",
    "OAuthError",
    "Bitrix24OAuthCredentials",
    "TokenStore",
    "FileTokenStore",
    "make_client",
    "ScopeError",
    "MethodNotFoundError",
    "ApiError",
    "RetryBudgetExceeded",
    "STREAMS",
    "failed_streams",
    "run_in_slices",
    "pending_backfills",
    "SliceReport",
    "create_labeled_views",
    "drop_labeled_views",
]


@dlt.source(name="bitrix24", max_table_nesting=1)
def bitrix24_source(
    webhook_url: Optional[str] = dlt.secrets.value,
    credentials: Optional[Bitrix24OAuthCredentials] = dlt.secrets.value,
    token_store: Optional[Any] = None,
    streams: Optional[Sequence[str]] = None,
    extract_deal_contacts: bool = False,
    enable_deal_comments: bool = False,
    enable_deal_products: bool = False,
    deal_products_method: str = "auto",
    deal_comments_refresh_runs: Optional[int] = 10,
    operating_time_threshold: float = 200.0,
    deal_category_ids: Optional[List[int]] = None,
    sync_types: Optional[Dict[str, str]] = None,
    start_date: Optional[str] = None,
    end_date: Optional[str] = None,
    requests_per_second: float = 2.0,
    request_burst: int = 50,
    max_retry_seconds: float = 900.0,
    request_timeout: float = 120.0,
    request_concurrency: int = 4,
    spa_entity_type_ids: Optional[List[int]] = None,
    allow_external_schedulers: bool = False,
    detect_deletes: Optional[str] = None,
    fail_fast: bool = False,
    backfill_slice_rows: Optional[int] = None,
    max_run_minutes: Optional[float] = None,
    labeled_views: bool = False,
) -> Iterator[DltResource]:
    """All streams of a Bitrix24 portal.

    Building the source checks every option (no request is made for a bad one), then asks the
    portal once for the webhook's scopes and, unless `spa_entity_type_ids` is given, for its SPA
    types. Streams whose scope the webhook lacks are left out with one warning.

    Args:
        webhook_url: inbound webhook `https://PORTAL/rest/USER_ID/CODE/` (a secret).
        credentials: instead of a webhook, an application's OAuth credentials
            (`[sources.bitrix24.credentials]`: domain, client_id, client_secret, refresh_token, optionally
            access_token, oauth_server, token_store_path). Exactly one of the two must be configured.
        token_store: OAuth only - where rotated token pairs are kept (anything with load()/save(), see
            `tokens.TokenStore`); default a 0600 JSON file beside the pipelines' working folders.
        streams: names of the streams to load; None loads every stream the flags enable. Naming a
            deal sub-resource (deal_products, deal_comments) switches its flag on.
        extract_deal_contacts: add CONTACT_IDS (all of a deal's contacts) to each deal.
        enable_deal_comments / enable_deal_products: the deal_comments / deal_products streams.
        deal_products_method: "auto" reads product rows with `crm.item.productrow.list`, 200 deals
            a command (about one request per 2,500 rows), after the portal's first answers prove it
            honours the deal-id array, else falls back with one warning; "per_deal" always uses
            `crm.deal.productrows.get` (50 deals a request; it also returns the reserve fields,
            ORIGINAL_PRODUCT_NAME and PRODUCT_DESCRIPTION).
        deal_comments_refresh_runs: with enable_deal_comments, every incremental run also re-reads
            the comments of one N-th of all deals (id % N), so each deal's comments - added, edited or
            deleted without the deal changing - are refreshed within N runs: about deals / (50·N)
            requests a run. 0 or None = off (comments then follow only the deals that changed).
        operating_time_threshold: pause a method once Bitrix reports more than this many seconds
            of operating time for it in the last 10 minutes (the portal blocks at about 480).
        deal_category_ids: only deals of these pipelines (0 = the default one); empty = all.
        sync_types: per stream "incremental" or "full_table"; streams with a replication key
            default to incremental.
        start_date: lower bound of the first incremental run (ISO date or datetime).
        end_date: with start_date, load only the window [start_date, end_date) of the date-cursor
            streams (dlt's `end_value`): a bounded backfill that leaves the pipeline's cursors as they
            were, read in one load (never sliced). The id-cursor streams (stage history) ignore it.
        requests_per_second / request_burst: the portal's request-rate limit (2 and 50; 5 and 250
            on Enterprise plans).
        max_retry_seconds: how long one call may keep failing transiently before the run stops.
        request_timeout: seconds to wait for one HTTP answer (Bitrix cuts requests at 60 s).
        request_concurrency: how many independent batches one reader keeps in flight (the deal
            sub-resources' 50-deal chunks); every request still passes the shared throttle, so this
            spends the portal's burst on overlapping server time, never exceeding its rate. 1 =
            one request after another.
        spa_entity_type_ids: SPA entityTypeIds to load; skips discovery (no request at build time).
        detect_deletes: after each incremental run of an entity, find rows deleted on the portal
            with an id-only scan (one request per 2,500 rows) and "delete" them from the
            destination or "mark" them (`_deleted`, `_deleted_at`); None = off.
        allow_external_schedulers: take each date-cursor window from the orchestrator's data
            interval (Airflow); dlt also enables this when its Airflow helper runs the source.
        fail_fast: stop the whole run at the first stream that fails for good. By default such a
            stream is stopped alone (logged as an ERROR, listed in `failed_streams()`), keeps its
            cursor, and the other streams load and commit theirs.
        backfill_slice_rows: a first sync (or full refresh) of a keyset stream stops after about this
            many rows, and the run commits them with the walk's progress; the next run resumes
            there (`bitrix24.run_in_slices` runs slice after slice). None reads it in one run.
        max_run_minutes: a backfill stops at its next answer once the run (from its first request)
            is this old; the rows read so far are committed and the next run resumes (`backfill.py`).
        labeled_views: read by `bitrix24_pipeline.py`, which then calls
            `bitrix24.views.create_labeled_views(pipeline)` after the load (`deals_labeled`, ...); the
            source itself only checks it. In your own code call that function after `pipeline.run`.
    """
    auth = resolve_auth(webhook_url, credentials)
    if not isinstance(labeled_views, bool):
        raise ConfigurationError(f"sources.bitrix24.labeled_views must be true or false; got {labeled_views!r}.")
    spa_ids = check_spa_ids(spa_entity_type_ids)
    requested = check_streams(streams, known_names(spa_ids) + [n for n in _as_list(streams) if SPA_NAME.match(n)])
    lower_bound = check_start_date(start_date)
    flags = switched_on({"extract_deal_contacts": extract_deal_contacts, "enable_deal_comments": enable_deal_comments,
                         "enable_deal_products": enable_deal_products}, requested)
    options = Options(
        **flags,
        deal_category_ids=tuple(check_category_ids(deal_category_ids)),
        detect_deletes=check_detect_deletes(detect_deletes),
        requested=tuple(requested) if requested is not None else None,
        spa_ids=tuple(spa_ids) if spa_ids is not None else None,
        sync_types=check_sync_types(sync_types, incremental_names(spa_ids), known_names(spa_ids)),
        bounds=(lower_bound, check_end_date(end_date, lower_bound)),
        allow_external_schedulers=bool(allow_external_schedulers),
        **_checked_reading(deal_products_method, backfill_slice_rows, max_run_minutes, deal_comments_refresh_runs),
    )
    client = make_client(auth, token_store=token_store, **_checked_client_settings(
        requests_per_second, request_burst, operating_time_threshold, max_retry_seconds, request_timeout,
        request_concurrency,
    ))
    isolation = Isolation(fail_fast=bool(fail_fast), failures=client.failures)
    resources: Dict[str, DltResource] = {}
    for stream in choose_streams(client, options):
        parent = resources.get(stream.parent) if stream.parent else None
        resources[stream.name] = make_resource(client, stream, options, parent, isolation)
    yield from resources.values()


def _checked_reading(
    deal_products_method: Any, backfill_slice_rows: Any, max_run_minutes: Any, deal_comments_refresh_runs: Any,
) -> Dict[str, Any]:
    """How the readers read: the product-row method, the backfill's slice and time box, the sweep."""
    return dict(
        deal_products_method=check_deal_products_method(deal_products_method),
        backfill_slice_rows=None if backfill_slice_rows in (None, 0, "0") else int(
            check_number("backfill_slice_rows", backfill_slice_rows, 0, 10**9, integer=True)),
        max_run_seconds=None if max_run_minutes is None else 60 * check_number(
            "max_run_minutes", max_run_minutes, 0, 10**6),
        deal_comments_refresh_runs=check_refresh_runs(deal_comments_refresh_runs),
    )

def _checked_client_settings(
    requests_per_second: Any, request_burst: Any, operating_time_threshold: Any, max_retry_seconds: Any,
    request_timeout: Any, request_concurrency: Any,
) -> Dict[str, Any]:
    """The client's limits and timeouts, each checked against its range."""
    return dict(
        requests_per_second=check_number("requests_per_second", requests_per_second, 0, 100),
        request_burst=int(check_number("request_burst", request_burst, 0, 10_000, integer=True)),
        operating_time_threshold=check_number("operating_time_threshold", operating_time_threshold, 0, 600),
        max_retry_seconds=check_number("max_retry_seconds", max_retry_seconds, 0, 86_400),
        request_timeout=check_number("request_timeout", request_timeout, 0, 3_600),
        request_concurrency=int(check_number("request_concurrency", request_concurrency, 0, 50, integer=True)),
    )


def make_resource(
    client: Bitrix24Client,
    stream: Stream,
    options: Options,
    parent: Optional[DltResource] = None,
    isolation: Optional[Isolation] = None,
) -> DltResource:
    """One resource (or transformer, for a sub-resource) from one row of the stream table, run in
    isolation (`isolation.py`): a stream that fails is stopped alone and keeps its cursor."""
    isolation = isolation or Isolation()
    incremental = options.incremental(stream)
    kwargs = {"cursor": cursor_of(stream, options.bounds, options.allow_external_schedulers)} if incremental else {}
    hints: Dict[str, Any] = dict(
        name=stream.name,
        table_name=stream.table_name,
        primary_key=stream.primary_key,
        columns=stream.column_hints(incremental, options.detect_deletes) or None,
        write_disposition=stream.write_disposition(incremental),
    )
    if stream.merge_key:
        hints["merge_key"] = stream.merge_key
    # Streams extract side by side in dlt's thread pool, and so do the sub-resource calls (one per
    # keyset answer of deals): the shared throttle keeps the portal's request rate, and while one
    # request waits for its answer another is sent. Transformer calls left in dlt's main thread
    # block every other stream while their requests run (bench/results.md, "Parallel extraction").
    reader = READERS[stream.reader]
    if stream.reader == "comment_sweep":  # reads deals' start-of-run cursor and keeps its own turn
        reader = partial(reader, isolation=isolation)
    # `.parallelize()` after binding the arguments: with `parallelized=True` in the decorator, dlt
    # (1.31) drops the parallel wrapper when the bound arguments carry an incremental, and every
    # incremental stream then extracted one after another (tests/test_concurrency.py).
    if stream.parent:
        return dlt.transformer(run_child, data_from=parent, **hints)(
            reader, isolation, client, stream, options
        ).parallelize()
    resource = dlt.resource(run_stream, **hints)(reader, isolation, client, stream, options, **kwargs).parallelize()
    return resource.add_step(StateGuard(isolation))


def cursor_of(stream: Stream, bounds: Any, external_schedulers: bool = False) -> Any:
    """dlt's incremental cursor of a stream; `bounds` = (start_date, end_date), either may be None.

    An end_date makes it a bounded window: dlt keeps no cursor state for it and `backfill.begin`
    never slices it. An id cursor (append-only tables) takes neither bound."""
    lower_bound, upper_bound = bounds if isinstance(bounds, tuple) else (bounds, None)
    by_id = stream.append_only
    return dlt.sources.incremental[int if by_id else datetime](
        stream.cursor,
        initial_value=None if by_id else lower_bound,
        end_value=None if by_id else upper_bound,
        # None lets dlt decide (its Airflow helper turns it on); an id cursor never joins.
        allow_external_schedulers=False if by_id else (True if external_schedulers else None),
        range_start="closed",
        range_end="open",
        on_cursor_value_missing="include",  # detect_deletes rows carry no cursor
    )


def failed_streams() -> Dict[str, str]:
    """Streams of the most recent run that failed for good: {name: what failed and the fix}.

    Empty after a clean run. With `fail_fast` off (the default) `pipeline.run()` still succeeds
    when a stream fails - the others are loaded - so check this (the CLI exits 1 when it is not
    empty) or set `fail_fast = true`.
    """
    client = latest_client()
    return dict(client.failures) if client is not None else {}
