"""Pure-function pieces: throttle arithmetic, query encoding, value conversion, config checks."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bitrix24.batch import ListQuery, Ref, php_query
from bitrix24.config import (
    check_category_ids,
    check_number,
    check_start_date,
    check_sync_types,
    parse_webhook_url,
)
from bitrix24.errors import ConfigurationError
from bitrix24.fields import FieldTyping
from bitrix24.throttle import LeakyBucket


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_leaky_bucket_allows_burst_then_drains_at_rate():
    clock = FakeClock()
    bucket = LeakyBucket(rate=2, burst=50, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(50)]
    assert sum(waits) == 0  # the burst goes through at once
    assert bucket.acquire() == pytest.approx(0.5)  # then one request per 1/rate seconds
    assert bucket.acquire() == pytest.approx(0.5)
    clock.now += 100  # idle time drains the bucket
    assert bucket.acquire() == 0


def test_leaky_bucket_penalize_fills_it():
    clock = FakeClock()
    bucket = LeakyBucket(rate=2, burst=50, clock=clock, sleep=clock.sleep)
    bucket.penalize()
    assert bucket.acquire() == pytest.approx(0.5)


def test_php_query_encodes_nested_params_and_keeps_references_verbatim():
    query = php_query(
        {
            "filter": {">=DATE_MODIFY": "2024-01-01T00:00:00+03:00", ">ID": Ref("$result[p0][49][ID]"), "@CATEGORY_ID": [0, 3]},
            "select": ["*", "UF_*"],
            "start": -1,
        }
    )
    assert "filter[%3E%3DDATE_MODIFY]=2024-01-01T00%3A00%3A00%2B03%3A00" in query
    assert "filter[%3EID]=$result[p0][49][ID]" in query
    assert "filter[%40CATEGORY_ID][0]=0&filter[%40CATEGORY_ID][1]=3" in query
    assert "select[0]=%2A&select[1]=UF_%2A" in query
    assert query.endswith("start=-1")


def test_list_query_references_wrapped_items():
    query = ListQuery("crm.item.list", params={"entityTypeId": 128}, id_field="id", items_key="items")
    assert query.ref_to_last("p3") == "$result[p3][items][49][id]"
    assert "filter[%3Eid]=7" in query.page_command(7)


DESCRIPTORS = {
    "ID": {"type": "integer"},
    "OPPORTUNITY": {"type": "double"},
    "OPENED": {"type": "char"},
    "BEGINDATE": {"type": "date"},
    "DATE_MODIFY": {"type": "datetime"},
    "COMPANY_ID": {"type": "crm_company"},
    "CATEGORY_ID": {"type": "crm_category"},
    "UF_MONEY": {"type": "money", "isDynamic": True, "listLabel": "Budget"},
    "UF_TAGS": {"type": "enumeration", "isMultiple": True},
    "UF_FLAG": {"type": "boolean"},
    "PHONE": {"type": "crm_multifield", "isMultiple": True},
    "SETTINGS": {"type": "object"},
    "TITLE": {"type": "string"},
}


def test_field_typing_converts_wire_strings():
    typing = FieldTyping(DESCRIPTORS, "deals")
    row = typing.convert(
        {
            "ID": "37",
            "OPPORTUNITY": "19999.99",
            "OPENED": "Y",
            "BEGINDATE": "2024-08-30T02:00:00+02:00",
            "DATE_MODIFY": "2024-08-30T14:29:00+02:00",
            "COMPANY_ID": "0",
            "CATEGORY_ID": "0",
            "UF_MONEY": "100.50|USD",
            "UF_TAGS": ["81", "82"],
            "UF_FLAG": "0",
            "PHONE": [{"ID": "156", "VALUE_TYPE": "WORK", "VALUE": "+1333", "TYPE_ID": "PHONE"}],
            "SETTINGS": [],
            "TITLE": "",
        }
    )
    assert row["ID"] == 37 and row["OPPORTUNITY"] == Decimal("19999.99") and row["OPENED"] is True
    assert row["BEGINDATE"] == date(2024, 8, 30)
    assert row["DATE_MODIFY"] == datetime(2024, 8, 30, 12, 29, tzinfo=timezone.utc)
    assert row["COMPANY_ID"] is None  # "0" is "no company"
    assert row["CATEGORY_ID"] == 0  # pipeline 0 is the default pipeline, not "none"
    assert row["UF_MONEY"] == {"amount": Decimal("100.50"), "currency": "USD"}
    assert typing.convert({"UF_MONEY": ""})["UF_MONEY"] == {"amount": None, "currency": None}
    assert row["UF_TAGS"] == [81, 82] and row["UF_FLAG"] is False
    assert row["PHONE"][0]["ID"] == 156
    assert row["SETTINGS"] is None and row["TITLE"] is None
    assert typing.columns["UF_TAGS"]["data_type"] == "json"
    assert typing.columns["UF_MONEY__amount"] == {"name": "UF_MONEY__amount", "nullable": True, "data_type": "decimal", "description": "Budget"}
    assert typing.columns["DATE_MODIFY"]["data_type"] == "timestamp"


def test_field_typing_keeps_unconvertible_values(caplog):
    typing = FieldTyping({"ID": {"type": "integer"}, "D": {"type": "datetime"}}, "deals")
    row = typing.convert({"ID": "abc", "D": "{}"})
    assert row == {"ID": "abc", "D": "{}"}  # kept, never dropped: dlt puts it in a variant column
    assert "deals.ID" in caplog.text


def test_webhook_url_parsing_and_errors_never_echo_the_code():
    hook = parse_webhook_url("https://acme.bitrix24.com/rest/1/abcdef0123456789/")
    assert hook.user_id == 1 and hook.code == "abcdef0123456789" and "abcdef" not in repr(hook)
    assert parse_webhook_url("https://acme.bitrix24.com/rest/1/abcdef0123456789").base_url.endswith("/")
    assert parse_webhook_url("http://127.0.0.1:8000/rest/1/abc/").host == "127.0.0.1"
    bad = [
        ("", "not set"),
        ("acme.bitrix24.com/rest/1/secretcode123/", "not a URL"),
        ("http://acme.bitrix24.com/rest/1/secretcode123/", "https://"),
        ("https://acme.bitrix24.com/rest/secretcode123/", "user id"),
        ("https://acme.bitrix24.com/rest/1/secretcode123/crm.deal.list", "method name"),
        ("https://acme.bitrix24.com/crm/deal/", "/rest/<user id>/<webhook code>/"),
    ]
    for url, expected in bad:
        with pytest.raises(ConfigurationError) as info:
            parse_webhook_url(url)
        assert expected in str(info.value)
        assert "secretcode123" not in str(info.value)


def test_config_checks_name_the_key():
    with pytest.raises(ConfigurationError, match="requests_per_second"):
        check_number("requests_per_second", -1, 0, 100)
    with pytest.raises(ConfigurationError, match="request_burst"):
        check_number("request_burst", 2.5, 0, 100, integer=True)
    assert check_number("operating_time_threshold", "200", 0, 600) == 200.0
    with pytest.raises(ConfigurationError, match="deal_category_ids"):
        check_category_ids(["one"])
    with pytest.raises(ConfigurationError, match="deal_category_ids"):
        check_category_ids([-1])
    assert check_category_ids(["3", 0, 3]) == [0, 3]
    with pytest.raises(ConfigurationError, match="in the future"):
        check_start_date((datetime.now(timezone.utc) + timedelta(days=2)).isoformat())
    with pytest.raises(ConfigurationError, match="not a date"):
        check_start_date("yesterday-ish")
    assert check_start_date("2024-01-01").year == 2024
    with pytest.raises(ConfigurationError, match="unknown stream 'dealz'"):
        check_sync_types({"dealz": "full_table"}, ["deals"], ["deals"])
    with pytest.raises(ConfigurationError, match="no replication key"):
        check_sync_types({"statuses": "incremental"}, ["deals"], ["deals", "statuses"])
    with pytest.raises(ConfigurationError, match="full_table"):
        check_sync_types({"deals": "full"}, ["deals"], ["deals"])
