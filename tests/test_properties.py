"""Property-based tests: value conversion from field metadata never crashes and never drops a value.

Hypothesis runs from the profile tests/conftest.py loads: derandomized and without an example
database by default (the same examples every run, nothing replayed from `.hypothesis/`);
HYPOTHESIS_PROFILE=explore draws fresh random examples.
"""

import math
from datetime import date, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitrix24.fields import KINDS, TYPE_KIND, FieldTyping

BITRIX_TYPES = sorted(TYPE_KIND) + ["crm_enum_ownertype", "crm_status", "string", "url", "address", "crm",
                                    "resourcebooking", "rest_123_custom", ""]

wire_scalars = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["Y", "N", "0", "1", "0.00", "12", "-3", "1e3", "100.00|USD", "|", "abc", "{}", "[]",
                     "2024-08-30T02:00:00+02:00", "2024-08-30", "30.08.2024", "2024-13-45T99:00:00+02:00",
                     "D_12", "CO_3", "text|55.7;37.6|12"]),
    st.text(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    # JSON has no NaN or infinity (PHP's json_encode refuses them): see test_non_finite_floats
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
wire_values = st.one_of(
    wire_scalars,
    st.lists(wire_scalars, max_size=4),
    st.dictionaries(st.text(max_size=8), wire_scalars, max_size=3),
    st.lists(st.fixed_dictionaries({"ID": wire_scalars, "VALUE": wire_scalars, "VALUE_TYPE": wire_scalars}), max_size=3),
)


def _is_zero(value):
    try:
        return float(value) == 0
    except (TypeError, ValueError):
        return False


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(bitrix_type=st.sampled_from(BITRIX_TYPES), multiple=st.booleans(), value=wire_values)
def test_conversion_never_raises_and_never_loses_a_value(bitrix_type, multiple, value):
    typing = FieldTyping({"F": {"type": bitrix_type, "isMultiple": multiple}}, "t")
    row = typing.convert({"F": value, "OTHER": "kept"})
    assert row["OTHER"] == "kept"  # the row survives whatever the field holds
    out = row["F"]
    empty = value is None or value == "" or value == [] or value == {} or value is False
    zero_link = typing.kinds["F"] == "ref" and _is_zero(value)  # "0" = no linked record
    if bitrix_type == "money" and isinstance(value, str):  # "|" holds neither an amount nor a currency
        amount, _, currency = value.partition("|")
        empty = empty or (not amount.strip() and currency == "")
    if (out is None or out == {"amount": None, "currency": None}) and not zero_link:
        # NULL only for empty input (or lists whose every element was empty)
        assert empty or (isinstance(value, list) and all(v in (None, "", [], {}) for v in value)) or (
            bitrix_type in ("char", "boolean", "bool") and value in ("",)
        ), (bitrix_type, value)
    kind = typing.kinds["F"]
    if out is not None and kind in ("int", "ref") and not isinstance(out, int):
        assert out == value  # not convertible: kept exactly as it came
    if out is not None and kind == "datetime" and not isinstance(out, datetime):
        assert out == value
    if out is not None and kind == "date" and not isinstance(out, date):
        assert out == value


@given(bitrix_type=st.sampled_from(BITRIX_TYPES), value=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_floats_are_kept_as_they_came(bitrix_type, value):
    """Not on the wire from Bitrix, but a JSON decoder that accepts `NaN` could hand one over: the
    converter never raises and keeps it unchanged (dlt stores it in a variant column), except that a
    text field holds its text."""
    typing = FieldTyping({"F": {"type": bitrix_type}}, "t")
    out = typing.convert({"F": value})["F"]
    if typing.kinds["F"] == "text":
        assert out == str(value)
    else:
        assert isinstance(out, float) and (math.isnan(out) if math.isnan(value) else out == value)


@given(st.integers(min_value=0, max_value=10**12))
def test_integer_strings_round_trip(number):
    typing = FieldTyping({"I": {"type": "integer"}, "D": {"type": "double"}}, "t")
    assert typing.convert({"I": str(number), "D": f"{number}.25"}) == {"I": number, "D": Decimal(number) + Decimal("0.25")}


@given(st.datetimes(timezones=st.timezones()))
def test_datetimes_keep_the_instant(moment):
    typing = FieldTyping({"T": {"type": "datetime"}}, "t")
    wire = moment.isoformat()
    assert typing.convert({"T": wire})["T"] == datetime.fromisoformat(wire)


def test_every_kind_has_a_converter():
    assert set(TYPE_KIND.values()) <= set(KINDS)


def test_the_suite_runs_a_fixed_hypothesis_profile():
    import os

    if os.environ.get("HYPOTHESIS_PROFILE", "fixed") == "fixed":
        assert settings.default.derandomize and settings.default.database is None
