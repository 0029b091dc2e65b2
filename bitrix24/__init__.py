"""Bitrix24 source for dlt: the CRM of a Bitrix24 portal, typed and incremental, into any
destination dlt supports.

The source reads through an inbound webhook (`https://PORTAL/rest/USER_ID/CODE/`) and uses
Bitrix24's own fast paths: `batch` requests of up to 50 commands, keyset paging (`>ID`, `start=-1`,
no counting) chained by `$result[...]` references — 2,500 rows per HTTP request — under one
request-rate throttle shared by every thread.

    import dlt
    from bitrix24 import bitrix24_source

    pipeline = dlt.pipeline("bitrix24", destination="duckdb", dataset_name="bitrix24")
    pipeline.run(bitrix24_source())

Configuration comes from `.dlt/config.toml`, `.dlt/secrets.toml` or environment variables, section
`[sources.bitrix24]`; see the README for every key. The stream table is in `settings.py`.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence

import dlt
from dlt.extract.resource import DltResource

from .client import Bitrix24Client
from .config import (
    check_category_ids,
    check_number,
    check_start_date,
    check_streams,
    check_sync_types,
    parse_webhook_url,
)
from .errors import (
    ApiError,
    AuthError,
    Bitrix24Error,
    ConfigurationError,
    MethodNotFoundError,
    RetryBudgetExceeded,
    ScopeError,
)
from .settings import STREAMS, STREAMS_BY_NAME, Stream
from .streams import READERS, Options

__all__ = [
    "bitrix24_source",
    "Bitrix24Client",
    "Bitrix24Error",
    "ConfigurationError",
    "AuthError",
    "ScopeError",
    "MethodNotFoundError",
    "ApiError",
    "RetryBudgetExceeded",
    "STREAMS",
]


@dlt.source(name="bitrix24", max_table_nesting=1)
def bitrix24_source(
    webhook_url: str = dlt.secrets.value,
    streams: Optional[Sequence[str]] = None,
    extract_deal_contacts: bool = False,
    enable_deal_comments: bool = False,
    enable_deal_products: bool = False,
    operating_time_threshold: float = 200.0,
    deal_category_ids: Optional[List[int]] = None,
    sync_types: Optional[Dict[str, str]] = None,
    start_date: Optional[str] = None,
    requests_per_second: float = 2.0,
    request_burst: int = 50,
    max_retry_seconds: float = 900.0,
) -> Iterator[DltResource]:
    """All streams of a Bitrix24 portal.

    Args:
        webhook_url: inbound webhook `https://PORTAL/rest/USER_ID/CODE/` (a secret).
        streams: names of the streams to load; None loads every stream the flags enable.
        extract_deal_contacts / enable_deal_comments / enable_deal_products: deal sub-resources.
        operating_time_threshold: pause a method once Bitrix reports more than this many seconds
            of operating time for it in the last 10 minutes (the portal blocks at about 480).
        deal_category_ids: only deals of these pipelines (0 = the default one); empty = all.
        sync_types: per stream "incremental" or "full_table"; streams with a replication key
            default to incremental.
        start_date: lower bound of the first incremental run (ISO date or datetime).
        requests_per_second / request_burst: the portal's request-rate limit (2 and 50; 5 and 250
            on Enterprise plans).
        max_retry_seconds: how long one call may keep failing transiently before the run stops.
    """
    webhook = parse_webhook_url(webhook_url)
    known = [s.name for s in STREAMS]
    selected = check_streams(streams, known)
    kinds = check_sync_types(sync_types, [s.name for s in STREAMS if s.incremental_capable], known)
    lower_bound = check_start_date(start_date)
    options = Options(deal_category_ids=tuple(check_category_ids(deal_category_ids)))
    client = Bitrix24Client(
        webhook,
        requests_per_second=check_number("requests_per_second", requests_per_second, 0, 100),
        request_burst=int(check_number("request_burst", request_burst, 0, 10_000, integer=True)),
        operating_time_threshold=check_number("operating_time_threshold", operating_time_threshold, 0, 600),
        max_retry_seconds=check_number("max_retry_seconds", max_retry_seconds, 0, 86_400),
    )
    flags = {
        "extract_deal_contacts": extract_deal_contacts,
        "enable_deal_comments": enable_deal_comments,
        "enable_deal_products": enable_deal_products,
    }
    for stream in STREAMS:
        if stream.option and not flags.get(stream.option):
            continue
        if selected is not None and stream.name not in selected:
            continue
        incremental = stream.incremental_capable and kinds.get(stream.name, "incremental") == "incremental"
        yield make_resource(client, stream, options, incremental, lower_bound)


def make_resource(
    client: Bitrix24Client, stream: Stream, options: Options, incremental: bool, lower_bound: Any
) -> DltResource:
    """One resource from one row of the stream table."""
    kwargs: Dict[str, Any] = {}
    if incremental:
        kwargs["cursor"] = dlt.sources.incremental(
            stream.cursor,
            initial_value=lower_bound,
            allow_external_schedulers=True,
            range_start="closed",
            range_end="open",
        )
    resource = dlt.resource(
        READERS[stream.reader],
        name=stream.name,
        table_name=stream.name,
        write_disposition="merge" if incremental else "replace",
        primary_key=stream.primary_key,
        columns=dict(stream.columns) or None,
    )
    return resource(client, stream, options, **kwargs)
