"""The stream table itself, checked as dlt's rest_api checks its config: every reader and hook a row
names exists, each parent comes before its child, every static type is one the typing knows, and
the incremental window of a keyset stream (a pure function) reads what its docstring says."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import get_args

import pytest

from bitrix24 import quirks
from bitrix24.fields import TYPE_KIND
from bitrix24.settings import SPA_TEMPLATES, STREAMS, Policy, Reader, Stream, spa_streams
from bitrix24.streams import READERS, Options, window

ROWS = STREAMS + spa_streams(128)
HOOKS = ("filters", "page_fix", "row_fix", "field_fix", "per_id_command", "bulk_rows")
POLICIES = ("if_method_missing", "if_type_absent", "if_not_admin")


def test_every_reader_named_by_the_table_exists_and_every_reader_is_used():
    assert set(get_args(Reader)) == set(READERS)
    assert {s.reader for s in ROWS} <= set(READERS)
    assert {s.reader for s in ROWS} == set(READERS), "a reader no stream uses"


def test_names_and_tables_are_unique_and_parents_come_first():
    names = [s.name for s in STREAMS]
    assert len(names) == len(set(names))
    seen = set()
    for stream in STREAMS:
        if stream.parent:
            assert stream.parent in seen, f"{stream.name}: its parent {stream.parent} must come before it"
            assert stream.merge_key, f"{stream.name}: a child table is replaced per parent (merge_key)"
        seen.add(stream.name)
    shared = [s for s in STREAMS if s.table and s.table != s.name]
    assert all(s.table in names for s in shared), "a stream writing another stream's table names a real one"


def test_every_hook_is_a_quirk_function_and_every_policy_a_known_one():
    for stream in ROWS:
        for hook in HOOKS:
            fn = getattr(stream, hook)
            if fn is not None:
                assert callable(fn) and inspect.getmodule(fn) in (quirks, inspect.getmodule(quirks.bulk_product_rows)), (
                    f"{stream.name}.{hook} must be a function of quirks.py")
        for policy in POLICIES:
            assert getattr(stream, policy) in get_args(Policy), f"{stream.name}.{policy}"
    per_id = [s for s in ROWS if s.reader in ("per_deal", "comment_sweep")]
    assert per_id and all(s.per_id_command is not None for s in per_id), "a per-deal stream needs its command"
    assert all(s.follow_next is False for s in ROWS if s.per_id_command is None)


def test_every_static_type_is_known_to_the_typing():
    known = set(TYPE_KIND) | {"string", "text"}
    for stream in ROWS + SPA_TEMPLATES:
        for code, bitrix_type in stream.types.items():
            assert bitrix_type.removesuffix("[]") in known, f"{stream.name}.{code}: unknown type {bitrix_type!r}"


def test_module_streams_are_skipped_where_the_module_is_off_and_crm_streams_fail():
    for stream in ROWS:
        expected = "fail" if "crm" in stream.scope else "skip"
        assert stream.if_method_missing == expected, stream.name


def test_the_table_has_no_field_a_reader_does_not_read():
    # every field of Stream is used somewhere in the package (a row cannot say what nothing reads)
    import bitrix24

    source = "\n".join(
        inspect.getsource(m) for m in (bitrix24, bitrix24.streams, bitrix24.plan, bitrix24.batch, bitrix24.views,
                                       bitrix24.backfill, bitrix24.isolation, bitrix24.settings)
    )
    for f in dataclasses.fields(Stream):
        assert source.count(f".{f.name}") >= 1, f"Stream.{f.name} is read nowhere"


# ---------------------------------------------------------------------------- the incremental window

DEALS = next(s for s in STREAMS if s.name == "deals")
HISTORY = next(s for s in STREAMS if s.name == "deal_stage_history")  # id cursor (append-only)
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
LAST = datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)
NOW = datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)


def cursor(start, initial=START, end=None):
    return SimpleNamespace(start_value=start, initial_value=initial, end_value=end)


def now():
    return NOW


def test_full_table_reads_everything():
    assert window(DEALS, None, None, now) == type(window(DEALS, None, None, now))({})


def test_a_first_run_includes_its_start_and_ends_at_the_portal_clock():
    w = window(DEALS, cursor(START), None, now)
    assert w.filters == {">=DATE_MODIFY": "2024-01-01T00:00:00+00:00", "<DATE_MODIFY": "2024-06-01T08:30:00+00:00"}
    assert w.first_batch == 50 and w.upper == NOW


def test_a_routine_run_starts_after_the_last_value_with_a_small_first_request():
    w = window(DEALS, cursor(LAST), None, now)
    assert w.filters == {">DATE_MODIFY": "2024-05-01T12:00:00+00:00", "<DATE_MODIFY": "2024-06-01T08:30:00+00:00"}
    assert w.first_batch == 10


def test_an_end_value_bounds_the_window_and_is_no_routine_run():
    end = datetime(2024, 3, 1, tzinfo=timezone.utc)
    w = window(DEALS, cursor(LAST, end=end), None, lambda: pytest.fail("the clock is not asked"))
    assert w.filters == {">=DATE_MODIFY": "2024-05-01T12:00:00+00:00", "<DATE_MODIFY": "2024-03-01T00:00:00+00:00"}
    assert w.first_batch == 50


def test_a_backfill_keeps_its_window():
    walk = SimpleNamespace(lower=START, upper=datetime(2024, 2, 2, tzinfo=timezone.utc))
    w = window(DEALS, cursor(LAST), walk, lambda: pytest.fail("the clock is not asked"))
    assert w.filters == {">=DATE_MODIFY": "2024-01-01T00:00:00+00:00", "<DATE_MODIFY": "2024-02-02T00:00:00+00:00"}
    assert w.upper == walk.upper and w.first_batch == 50


def test_an_id_cursor_starts_the_keyset_after_the_last_id():
    w = window(HISTORY, cursor(1234, initial=None), None, lambda: pytest.fail("the clock is not asked"))
    assert (w.filters, w.after, w.first_batch) == ({}, 1234, 10)
    assert window(HISTORY, cursor(None, initial=None), None, now).after == 0
    assert window(HISTORY, cursor(7, initial=None, end=99), None, now).filters == {"<ID": 99}


def test_deal_filters_follow_the_category_option():
    assert quirks.deal_filters(Options()) == {}
    assert quirks.deal_filters(Options(deal_category_ids=(3,))) == {"CATEGORY_ID": 3}
    assert quirks.deal_filters(Options(deal_category_ids=(3, 5))) == {"@CATEGORY_ID": [3, 5]}
