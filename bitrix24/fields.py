"""Field typing: turn Bitrix24 field descriptors (`crm.*.fields`) into dlt column hints and
value converters.

Legacy CRM methods send almost every value as a string. Each descriptor's `type` says what the
string means; `FieldTyping` converts rows in place and gives dlt a column hint per field, so a
new `UF_*` field on the portal becomes a new typed column on the next run with no code change.

| Bitrix type                                    | loaded as                                  |
|------------------------------------------------|--------------------------------------------|
| integer, crm_category, enumeration, crm_enum_*, iblock_* | bigint                           |
| user, employee, crm_company/contact/lead/deal/quote, crm_entity | bigint, `0` = no link = NULL |
| double                                         | decimal(38,9): exact, money sums stay exact |
| char, boolean                                  | bool (`Y`/`N`, `1`/`0`, true/false)        |
| date                                           | date (the time part Bitrix adds is dropped) |
| datetime                                       | timestamp with time zone                   |
| money (`100.00|USD`)                           | `<col>__amount` decimal + `<col>__currency` |
| crm_multifield (PHONE, EMAIL, WEB, IM)         | child table `<table>__phone` etc.          |
| object, file, bindings, communications, …      | json                                       |
| anything with isMultiple                       | json list of converted values              |
| everything else                                | text                                       |

`""` becomes NULL everywhere. A value that does not convert is kept unchanged (dlt then stores it
in a variant column such as `opportunity__v_text`) and a warning names the field once.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

logger = logging.getLogger("bitrix24")

Converter = Callable[[Any], Any]

_EMPTY = ("", None)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def to_int(value: Any) -> Any:
    if _empty(value) or value is False:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        number = float(text)  # "12.0"; raises for junk
        if not number.is_integer():
            raise
        return int(number)


def to_ref(value: Any) -> Any:
    number = to_int(value)
    return None if number == 0 else number


def to_decimal(value: Any) -> Any:
    """Exact decimal from Bitrix's decimal strings ("19999.99"): sums of money stay exact."""
    if _empty(value) or value is False:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return Decimal(value)
    number = Decimal(repr(value) if isinstance(value, float) else str(value).strip().replace(",", "."))
    if not number.is_finite():
        raise ValueError(value)
    return number


_TRUE = {"Y", "y", "1", "true", "True", "TRUE", "yes", "D"}
_FALSE = {"N", "n", "0", "false", "False", "FALSE", "no"}


def to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if _empty(value):
        return None
    if isinstance(value, int):
        return value != 0
    text = str(value).strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def to_date(value: Any) -> Any:
    if _empty(value) or value is False:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if len(text) >= 10 and text[4] == "-":
        return date.fromisoformat(text[:10])
    if len(text) >= 10 and text[2] == ".":  # site format dd.mm.yyyy on old portals
        return date(int(text[6:10]), int(text[3:5]), int(text[0:2]))
    raise ValueError(value)


def to_datetime(value: Any) -> Any:
    if _empty(value) or value is False:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def to_text(value: Any) -> Any:
    if value == "" or value == [] or value == {}:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def to_json(value: Any) -> Any:
    return None if _empty(value) or value is False else value


def to_money(value: Any) -> Any:
    """`"100.00|USD"` -> {"amount": 100.0, "currency": "USD"} (flattened by dlt into two columns)."""
    if _empty(value) or value is False:
        return {"amount": None, "currency": None}
    text = str(value)
    amount, _, currency = text.partition("|")
    return {"amount": to_decimal(amount) if amount.strip() else None, "currency": currency or None}


def to_multifield(value: Any) -> Any:
    """PHONE/EMAIL/WEB/IM: a list of {ID, VALUE_TYPE, VALUE, TYPE_ID} -> child-table rows."""
    if _empty(value) or not isinstance(value, list):
        return None if _empty(value) else value
    out = []
    for item in value:
        if isinstance(item, dict):
            item = dict(item)
            if "ID" in item:
                item["ID"] = to_int(item["ID"])
        out.append(item)
    return out


# kind -> (converter, dlt data type or None when dlt should infer / nest)
KINDS: Dict[str, Tuple[Converter, Optional[str]]] = {
    "int": (to_int, "bigint"),
    "ref": (to_ref, "bigint"),
    "float": (to_decimal, "decimal"),
    "bool": (to_bool, "bool"),
    "date": (to_date, "date"),
    "datetime": (to_datetime, "timestamp"),
    "text": (to_text, "text"),
    "json": (to_json, "json"),
    "money": (to_money, None),
    "multifield": (to_multifield, None),
}

TYPE_KIND: Dict[str, str] = {
    "integer": "int",
    "int": "int",
    "crm_category": "int",
    "enumeration": "int",
    "iblock_element": "int",
    "iblock_section": "int",
    "location": "int",
    "user": "ref",
    "employee": "ref",
    "crm_company": "ref",
    "crm_contact": "ref",
    "crm_lead": "ref",
    "crm_deal": "ref",
    "crm_quote": "ref",
    "crm_entity": "ref",
    "double": "float",
    "float": "float",
    "char": "bool",
    "boolean": "bool",
    "bool": "bool",
    "date": "date",
    "datetime": "datetime",
    "money": "money",
    "crm_multifield": "multifield",
    "object": "json",
    "file": "json",
    "diskfile": "json",
    "disk_file": "json",
    "product_file": "json",
    "product_property": "json",
    "crm_activity_binding": "json",
    "crm_activity_communication": "json",
    "json": "json",
}


def kind_of(descriptor: Mapping[str, Any]) -> str:
    bitrix_type = str(descriptor.get("type") or "")
    if bitrix_type.startswith("crm_enum_"):
        return "int"
    return TYPE_KIND.get(bitrix_type, "text")


_MISSING = object()
_CONVERSION_ERRORS = (TypeError, ValueError, IndexError, OverflowError, AttributeError, InvalidOperation)


def _multiple(convert: Converter) -> Converter:
    def each(value: Any) -> Any:
        if _empty(value) or value is False:
            return None
        if not isinstance(value, list):
            value = [value]
        return [convert(v) for v in value if not _empty(v)] or None

    return each


def label_of(descriptor: Mapping[str, Any]) -> Optional[str]:
    for key in ("listLabel", "formLabel", "filterLabel", "title"):
        label = descriptor.get(key)
        if isinstance(label, str) and label:
            return label
        if isinstance(label, dict):  # some portals send {lang: label}
            for text in label.values():
                if isinstance(text, str) and text:
                    return text
    return None


class FieldTyping:
    """Converters and column hints for one table, built from its field descriptors."""

    def __init__(
        self,
        descriptors: Mapping[str, Mapping[str, Any]],
        table: str = "",
        overrides: Optional[Mapping[str, str]] = None,
        parent: Optional[Tuple[str, str]] = None,
    ) -> None:
        """`parent` = (row id key, column): each entry of a multi-field (PHONE, …) gets the row's id
        in that column, so the child table joins on a Bitrix key (`contacts__phone.contact_id`)."""
        self.table = table
        self.parent = parent
        self.multifields: List[str] = []
        self.converters: List[Tuple[str, Converter]] = []
        self.text_fields: List[str] = []  # only "" -> None; handled without a call per value
        self._warned: set = set()
        self.columns: Dict[str, Dict[str, Any]] = {}
        self.kinds: Dict[str, str] = {}
        for code, descriptor in descriptors.items():
            if not isinstance(descriptor, Mapping):
                continue
            kind = (overrides or {}).get(code) or kind_of(descriptor)
            convert, data_type = KINDS[kind]
            multiple = bool(descriptor.get("isMultiple")) and kind not in ("multifield", "json")
            if multiple:
                convert, data_type = _multiple(convert), "json"
            self.kinds[code] = "multiple" if multiple else kind
            if kind == "multifield" and parent:
                self.multifields.append(code)
            if kind == "text" and not multiple:
                self.text_fields.append(code)
            else:
                self.converters.append((code, convert))
            column: Dict[str, Any] = {"name": code, "nullable": True}
            if data_type:
                column["data_type"] = data_type
            label = label_of(descriptor)
            if label and label != code:
                column["description"] = label
            if data_type:
                self.columns[code] = column
            elif kind == "money" and not multiple:  # flattened by dlt into two typed columns
                for part, part_type in (("amount", "decimal"), ("currency", "text")):
                    name = f"{code}__{part}"
                    self.columns[name] = {**column, "name": name, "data_type": part_type}

    def convert(self, row: Dict[str, Any]) -> Dict[str, Any]:
        """Convert one row in place (hot path: one call per typed value, none per text value)."""
        for code in self.text_fields:
            value = row.get(code)
            if value == "" or value == [] or value == {}:
                row[code] = None
            elif value.__class__ is int or value.__class__ is float:
                row[code] = str(value)
        for code, convert in self.converters:
            value = row.get(code, _MISSING)
            if value is _MISSING:
                continue
            try:
                row[code] = convert(value)
            except _CONVERSION_ERRORS:
                self._keep(code, value)
        for code in self.multifields:
            entries = row.get(code)
            if isinstance(entries, list):
                key, column = self.parent  # type: ignore[misc]
                owner = to_int(row.get(key))
                for entry in entries:
                    if isinstance(entry, dict):
                        entry[column] = owner
        return row

    def _keep(self, code: str, value: Any) -> None:
        """A value that does not fit its type stays as it came; dlt puts it in a variant column."""
        if code not in self._warned:
            self._warned.add(code)
            logger.warning(
                "%s.%s: value %.40r does not match the field's type; kept as it came"
                " (dlt stores it in a variant column)",
                self.table,
                code,
                value,
            )

    def convert_all(self, rows: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
        return [self.convert(row) for row in rows]


def static_descriptors(types: Mapping[str, str]) -> Dict[str, Dict[str, Any]]:
    """Descriptors for methods without a `.fields` method: {"SORT": "integer", ...}."""
    out: Dict[str, Dict[str, Any]] = {}
    for code, bitrix_type in types.items():
        multiple = bitrix_type.endswith("[]")
        out[code] = {"type": bitrix_type.rstrip("[]"), "isMultiple": multiple, "title": code}
    return out
