"""Field schemas of the simulated entities (docs/bitrix24-api-notes.md#field-metadata-and-values).

A ``Field`` describes one wire field: its Bitrix ``type`` (as reported by ``*.fields``), flags, and
how its raw value is rendered on the wire (``kind``).  Raw values are Python natives:
ints, floats, strings, epoch ints for datetimes, epoch-day ints for dates, lists for multiple values.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Callable, Optional

# wire render kinds
INT = "int"          # legacy: "37"; item: 37
FLOAT2 = "float2"    # legacy: "20000.00"; item: 20000.0
STR = "str"
DT = "dt"            # datetime
DATE = "date"        # date (ConvertDate quirk)
MF = "mf"            # crm_multifield (key absent when empty)
FILE = "file"        # standard file field (key absent when empty)
OBJ = "obj"          # object: [] when empty
RAW = "raw"          # passthrough (lists of dicts etc.)
UF = "uf"            # user field: rendered per uf_type


@dataclass
class Field:
    code: str
    type: str
    title: str
    kind: str = STR
    ro: bool = False
    required: bool = False
    immutable: bool = False
    multiple: bool = False
    deprecated: bool = False
    status_type: Optional[str] = None
    settings: Optional[dict] = None
    # select group: std (in "*"), uf (in "UF_*"), mf (named only), extra (named only), hidden (fields only)
    group: str = "std"
    # user-field extras
    uf_type: Optional[str] = None
    label: Optional[str] = None
    items: Optional[list] = None
    value_fn: Optional[Callable] = None
    empty_rate: float = 0.2
    upper: Optional[str] = None   # crm.item: UPPER_SNAKE name
    extra: dict = dc_field(default_factory=dict)

    @property
    def dynamic(self) -> bool:
        return self.group == "uf"

    def descriptor(self, item_style: bool = False) -> dict:
        d: dict[str, Any] = {
            "type": self.type, "isRequired": self.required, "isReadOnly": self.ro,
            "isImmutable": self.immutable, "isMultiple": self.multiple, "isDynamic": self.dynamic,
        }
        if self.deprecated:
            d["isDeprecated"] = True
        if self.status_type:
            d["statusType"] = self.status_type
        if self.dynamic:
            d["title"] = (self.label or self.code) if item_style else self.code
            if self.items is not None:
                d["items"] = [{"ID": str(i), "VALUE": v} for i, v in self.items]
            lab = self.label or self.code
            d["listLabel"] = lab
            d["formLabel"] = lab
            d["filterLabel"] = lab
            d["settings"] = self.settings if self.settings is not None else []
        else:
            d["title"] = self.title
            if self.settings:
                d["settings"] = self.settings
        d.update({k: v for k, v in self.extra.items() if not k.startswith("_") and k != "raw"})
        if item_style:
            d["upperName"] = self.upper or self.code
        return d


def F(code, type_, title, kind=STR, flags="", status=None, settings=None, group="std", **kw) -> Field:
    """Compact constructor. flags: R read-only, Q required, I immutable, M multiple, D deprecated."""
    return Field(code, type_, title, kind, ro="R" in flags, required="Q" in flags, immutable="I" in flags,
                 multiple="M" in flags, deprecated="D" in flags, status_type=status, settings=settings,
                 group=group, **kw)


UTM = [F(c, "string", t) for c, t in [("UTM_SOURCE", "Ad system"), ("UTM_MEDIUM", "Traffic type"),
                                        ("UTM_CAMPAIGN", "Ad campaign UTM"), ("UTM_CONTENT", "Campaign contents"),
                                        ("UTM_TERM", "Campaign search term")]]

MULTIFIELDS = [F(c, "crm_multifield", t, MF, "M", group="mf") for c, t in
               [("PHONE", "Phone"), ("EMAIL", "E-mail"), ("WEB", "Website"), ("IM", "Messenger"), ("LINK", "Link")]]


def _addr(prefix: str, title: str) -> list:
    parts = [("", "Address"), ("_2", "Address (line 2)"), ("_CITY", "City"), ("_POSTAL_CODE", "Zip"),
             ("_REGION", "Region"), ("_PROVINCE", "State / Province"), ("_COUNTRY", "Country"),
             ("_COUNTRY_CODE", "Country Code")]
    out = [F(prefix + s, "string", f"{title} {t}".strip() if title else t) for s, t in parts]
    out.append(F(prefix + "_LOC_ADDR_ID", "integer", "Location address ID", INT))
    return out


COMMON_TAIL = [
    F("ASSIGNED_BY_ID", "user", "Responsible person", INT),
    F("CREATED_BY_ID", "user", "Created by", INT, "R"),
    F("MODIFY_BY_ID", "user", "Modified by", INT, "R"),
    F("DATE_CREATE", "datetime", "Created on", DT, "R"),
    F("DATE_MODIFY", "datetime", "Modified on", DT, "R"),
]

CONTACT_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("HONORIFIC", "crm_status", "Salutation", status="HONORIFIC"),
    F("NAME", "string", "Name"),
    F("SECOND_NAME", "string", "Second name"),
    F("LAST_NAME", "string", "Last name"),
    F("PHOTO", "file", "Photo", FILE),
    F("BIRTHDATE", "date", "Date of birth", DATE),
    F("TYPE_ID", "crm_status", "Contact type", status="CONTACT_TYPE"),
    F("SOURCE_ID", "crm_status", "Source", status="SOURCE"),
    F("SOURCE_DESCRIPTION", "text", "Source information"),
    F("POST", "string", "Position"),
    *_addr("ADDRESS", ""),
    F("COMMENTS", "text", "Comment"),
    F("OPENED", "char", "Available to everyone"),
    F("EXPORT", "char", "Included in export"),
    F("HAS_PHONE", "char", "Has phone", flags="R"),
    F("HAS_EMAIL", "char", "Has email", flags="R"),
    F("HAS_IMOL", "char", "Has Open Channel", flags="R"),
    *COMMON_TAIL,
    F("COMPANY_ID", "crm_company", "Company", INT, "D", settings={"parentEntityTypeId": 4}),
    F("COMPANY_IDS", "crm_company", "Company", INT, "M", group="hidden"),
    F("LEAD_ID", "crm_lead", "Lead", INT, "R", settings={"parentEntityTypeId": 1}),
    F("ORIGINATOR_ID", "string", "External source"),
    F("ORIGIN_ID", "string", "Item ID in data source"),
    F("ORIGIN_VERSION", "string", "Original version"),
    F("FACE_ID", "integer", "Face ID", INT, "R"),
    *UTM,
    F("LAST_ACTIVITY_TIME", "datetime", "Last activity", DT, "R"),
    F("LAST_ACTIVITY_BY", "user", "Last activity by", INT, "R"),
    *MULTIFIELDS,
]

COMPANY_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("TITLE", "string", "Company name", flags="Q"),
    F("COMPANY_TYPE", "crm_status", "Company type", status="COMPANY_TYPE"),
    F("LOGO", "file", "Logo", FILE),
    *_addr("ADDRESS", ""),
    F("ADDRESS_LEGAL", "string", "Legal address", flags="D"),
    *_addr("REG_ADDRESS", "Legal address"),
    F("BANKING_DETAILS", "text", "Payment details"),
    F("INDUSTRY", "crm_status", "Industry", status="INDUSTRY"),
    F("EMPLOYEES", "crm_status", "Employees", status="EMPLOYEES"),
    F("CURRENCY_ID", "crm_currency", "Currency"),
    F("REVENUE", "double", "Annual revenue", FLOAT2),
    F("OPENED", "char", "Available to everyone"),
    F("COMMENTS", "text", "Comment"),
    F("HAS_PHONE", "char", "Has phone", flags="R"),
    F("HAS_EMAIL", "char", "Has email", flags="R"),
    F("HAS_IMOL", "char", "Has Open Channel", flags="R"),
    F("IS_MY_COMPANY", "char", "My company"),
    *COMMON_TAIL,
    F("CONTACT_ID", "crm_contact", "Contact", INT, "M", group="hidden"),
    F("LEAD_ID", "crm_lead", "Lead", INT, "R", settings={"parentEntityTypeId": 1}),
    F("ORIGINATOR_ID", "string", "External source"),
    F("ORIGIN_ID", "string", "Item ID in data source"),
    F("ORIGIN_VERSION", "string", "Original version"),
    *UTM,
    F("LAST_ACTIVITY_TIME", "datetime", "Last activity", DT, "R"),
    F("LAST_ACTIVITY_BY", "user", "Last activity by", INT, "R"),
    *MULTIFIELDS,
]

DEAL_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("TITLE", "string", "Name"),
    F("TYPE_ID", "crm_status", "Type", status="DEAL_TYPE"),
    F("CATEGORY_ID", "crm_category", "Pipeline", INT, "I"),
    F("STAGE_ID", "crm_status", "Deal stage", status="DEAL_STAGE"),
    F("STAGE_SEMANTIC_ID", "string", "Stage group", flags="R"),
    F("IS_NEW", "char", "New deal", flags="R"),
    F("IS_RECURRING", "char", "Recurring deal"),
    F("IS_RETURN_CUSTOMER", "char", "Repeat deal", flags="R"),
    F("IS_REPEATED_APPROACH", "char", "Repeat inquiry", flags="R"),
    F("PROBABILITY", "integer", "Probability", INT),
    F("CURRENCY_ID", "crm_currency", "Currency"),
    F("OPPORTUNITY", "double", "Amount", FLOAT2),
    F("IS_MANUAL_OPPORTUNITY", "char", "IS_MANUAL_OPPORTUNITY"),
    F("TAX_VALUE", "double", "Tax rate", FLOAT2),
    F("COMPANY_ID", "crm_company", "Company", INT, settings={"parentEntityTypeId": 4}),
    F("CONTACT_ID", "crm_contact", "Contact", INT, "D"),
    F("CONTACT_IDS", "crm_contact", "Contacts", INT, "M", group="hidden"),
    F("QUOTE_ID", "crm_quote", "Quote", INT, "R", settings={"parentEntityTypeId": 7}),
    F("BEGINDATE", "date", "Start date", DATE),
    F("CLOSEDATE", "date", "End date", DATE),
    F("OPENED", "char", "Available to everyone"),
    F("CLOSED", "char", "Closed"),
    F("COMMENTS", "text", "Comment"),
    *COMMON_TAIL[:3],
    F("MOVED_BY_ID", "user", "Stage changed by", INT, "R"),
    *COMMON_TAIL[3:],
    F("MOVED_TIME", "datetime", "Stage changed on", DT, "R"),
    F("SOURCE_ID", "crm_status", "Source", status="SOURCE"),
    F("SOURCE_DESCRIPTION", "text", "Source information"),
    F("LEAD_ID", "crm_lead", "Lead", INT, "R", settings={"parentEntityTypeId": 1}),
    F("ADDITIONAL_INFO", "string", "Additional information"),
    F("LOCATION_ID", "location", "Location", INT),
    F("ORIGINATOR_ID", "string", "External source"),
    F("ORIGIN_ID", "string", "Item ID in data source"),
    *UTM,
    F("LAST_ACTIVITY_TIME", "datetime", "Last activity", DT, "R"),
    F("LAST_ACTIVITY_BY", "user", "Last activity by", INT, "R"),
    F("PARENT_ID_128", "crm_entity", "Service requests", INT, settings={"parentEntityTypeId": 128}),
]

LEAD_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("TITLE", "string", "Lead name"),
    F("HONORIFIC", "crm_status", "Salutation", status="HONORIFIC"),
    F("NAME", "string", "Name"),
    F("SECOND_NAME", "string", "Second name"),
    F("LAST_NAME", "string", "Last name"),
    F("BIRTHDATE", "date", "Date of birth", DATE),
    F("COMPANY_TITLE", "string", "Company name"),
    F("SOURCE_ID", "crm_status", "Source", status="SOURCE"),
    F("SOURCE_DESCRIPTION", "text", "Source information"),
    F("STATUS_ID", "crm_status", "Status", status="STATUS"),
    F("STATUS_DESCRIPTION", "text", "Status information"),
    F("STATUS_SEMANTIC_ID", "string", "Status details", flags="R"),
    F("POST", "string", "Position"),
    *_addr("ADDRESS", ""),
    F("CURRENCY_ID", "crm_currency", "Currency"),
    F("OPPORTUNITY", "double", "Amount", FLOAT2),
    F("IS_MANUAL_OPPORTUNITY", "char", "IS_MANUAL_OPPORTUNITY"),
    F("OPENED", "char", "Available to everyone"),
    F("COMMENTS", "text", "Comment"),
    F("HAS_PHONE", "char", "Has phone", flags="R"),
    F("HAS_EMAIL", "char", "Has email", flags="R"),
    F("HAS_IMOL", "char", "Has Open Channel", flags="R"),
    *COMMON_TAIL[:3],
    F("MOVED_BY_ID", "user", "Stage changed by", INT, "R"),
    *COMMON_TAIL[3:],
    F("MOVED_TIME", "datetime", "Stage changed on", DT, "R"),
    F("COMPANY_ID", "crm_company", "Company", INT, settings={"parentEntityTypeId": 4}),
    F("CONTACT_ID", "crm_contact", "Contact", INT, settings={"parentEntityTypeId": 3}),
    F("CONTACT_IDS", "crm_contact", "Contacts", INT, "M", group="hidden"),
    F("IS_RETURN_CUSTOMER", "char", "Repeat lead", flags="R"),
    F("DATE_CLOSED", "datetime", "Closed on", DT, "R"),
    F("ORIGINATOR_ID", "string", "External source"),
    F("ORIGIN_ID", "string", "Item ID in data source"),
    *UTM,
    F("LAST_ACTIVITY_TIME", "datetime", "Last activity", DT, "R"),
    F("LAST_ACTIVITY_BY", "user", "Last activity by", INT, "R"),
    *MULTIFIELDS,
]

ACTIVITY_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("OWNER_ID", "integer", "Owner ID", INT, "QI"),
    F("OWNER_TYPE_ID", "crm_enum_ownertype", "Owner type ID", INT, "QI"),
    F("TYPE_ID", "crm_enum_activitytype", "Type", INT, "QI"),
    F("PROVIDER_ID", "string", "Provider ID", flags="I"),
    F("PROVIDER_TYPE_ID", "string", "Provider type ID", flags="I"),
    F("PROVIDER_GROUP_ID", "string", "Provider group ID", flags="I"),
    F("ASSOCIATED_ENTITY_ID", "integer", "Associated entity ID", INT, "I"),
    F("SUBJECT", "string", "Subject", flags="Q"),
    F("CREATED", "datetime", "Created on", DT, "R"),
    F("LAST_UPDATED", "datetime", "Updated on", DT, "R"),
    F("START_TIME", "datetime", "Start time", DT),
    F("END_TIME", "datetime", "End time", DT),
    F("DEADLINE", "datetime", "Deadline", DT, "R"),
    F("COMPLETED", "char", "Completed"),
    F("STATUS", "crm_enum_activitystatus", "Status", INT),
    F("RESPONSIBLE_ID", "user", "Responsible person", INT, "Q"),
    F("PRIORITY", "crm_enum_activitypriority", "Priority", INT),
    F("NOTIFY_TYPE", "crm_enum_activitynotifytype", "Notification type", INT),
    F("NOTIFY_VALUE", "integer", "Notification value", INT),
    F("DESCRIPTION", "string", "Description"),
    F("DESCRIPTION_TYPE", "crm_enum_contenttype", "Description type", INT),
    F("DIRECTION", "crm_enum_activitydirection", "Direction", INT, "I"),
    F("LOCATION", "string", "Location"),
    F("SETTINGS", "object", "Settings", OBJ),
    F("ORIGINATOR_ID", "string", "Data source"),
    F("ORIGIN_ID", "string", "Item ID in data source"),
    F("AUTHOR_ID", "user", "Created by", INT),
    F("EDITOR_ID", "user", "Modified by", INT, "R"),
    F("PROVIDER_PARAMS", "object", "Provider parameters", OBJ),
    F("PROVIDER_DATA", "string", "Provider data"),
    F("RESULT_MARK", "integer", "RESULT_MARK", INT),
    F("RESULT_VALUE", "double", "RESULT_VALUE"),
    F("RESULT_SUM", "double", "RESULT_SUM"),
    F("RESULT_CURRENCY_ID", "string", "RESULT_CURRENCY_ID"),
    F("RESULT_STATUS", "integer", "RESULT_STATUS", INT),
    F("RESULT_STREAM", "integer", "RESULT_STREAM", INT),
    F("RESULT_SOURCE_ID", "string", "RESULT_SOURCE_ID"),
    F("AUTOCOMPLETE_RULE", "integer", "AUTOCOMPLETE_RULE", INT),
    F("IS_INCOMING_CHANNEL", "char", "Incoming channel", flags="R"),
    F("BINDINGS", "crm_activity_binding", "Bindings", RAW, "RM", group="extra"),
    F("COMMUNICATIONS", "crm_activity_communication", "Communications", RAW, "QM", group="extra"),
    F("FILES", "diskfile", "Files", RAW, "M", group="extra"),
    F("WEBDAV_ELEMENTS", "webdav_element", "Added files", RAW, "MD", group="extra"),
]

PRODUCT_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("CATALOG_ID", "integer", "Catalog", INT, "R"),
    F("NAME", "string", "Name", flags="Q"),
    F("CODE", "string", "Symbolic code"),
    F("ACTIVE", "char", "Active"),
    F("SECTION_ID", "integer", "Section", INT),
    F("SORT", "integer", "Sort", INT),
    F("XML_ID", "string", "External ID"),
    F("DESCRIPTION", "string", "Description"),
    F("DESCRIPTION_TYPE", "string", "Description type"),
    F("PRICE", "double", "Price", FLOAT2, "Q"),
    F("CURRENCY_ID", "string", "Currency", flags="Q"),
    F("VAT_ID", "integer", "VAT rate", INT),
    F("VAT_INCLUDED", "char", "VAT included"),
    F("MEASURE", "integer", "Unit of measurement", INT),
    F("PREVIEW_PICTURE", "product_file", "Preview image", RAW),
    F("DETAIL_PICTURE", "product_file", "Full image", RAW),
    F("DATE_CREATE", "datetime", "Created on", DT, "R"),
    F("TIMESTAMP_X", "datetime", "Modified on", DT, "R"),
    F("CREATED_BY", "user", "Created by", INT, "R"),
    F("MODIFIED_BY", "user", "Modified by", INT, "R"),
]

PRODUCT_PROPS = [
    # (id, name, propertyType, multiple)
    (101, "Color", "S", False),
    (102, "Tags", "S", True),
    (103, "Warranty, months", "N", False),
]

for _id, _name, _pt, _mult in PRODUCT_PROPS:
    PRODUCT_STD.append(F(f"PROPERTY_{_id}", "product_property", _name, RAW, "M" if _mult else "",
                         group="std", extra={"propertyType": _pt, "userType": "", "values": []}))

# ---------------------------------------------------------------- user fields

# (suffix number, uf_type, multiple, label, settings, enumeration items count, empty rate)
UF_TEMPLATE = [
    (1, "string", False, "External reference", {"SIZE": 20, "ROWS": 1, "DEFAULT_VALUE": ""}, 0.3),
    (2, "integer", False, "Score", {"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": None}, 0.2),
    (3, "double", False, "Discount rate", {"PRECISION": 4, "SIZE": 20, "DEFAULT_VALUE": None}, 0.2),
    (4, "boolean", False, "VIP", {"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX", "LABEL": ["", ""]}, 0.1),
    (5, "enumeration", False, "Segment", {"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "",
                                          "SHOW_NO_VALUE": "Y"}, 0.2),
    (6, "enumeration", True, "Interests", {"DISPLAY": "LIST", "LIST_HEIGHT": 3}, 0.35),
    (7, "datetime", False, "Next contact", {"DEFAULT_VALUE": {"TYPE": "NONE", "VALUE": ""}, "USE_SECOND": "Y"}, 0.3),
    (8, "date", False, "Contract date", {"DEFAULT_VALUE": {"TYPE": "NONE", "VALUE": ""}}, 0.3),
    (9, "money", False, "Budget", {"DEFAULT_VALUE": ""}, 0.25),
    (10, "url", True, "Links", {"POPUP": "Y", "SIZE": 20}, 0.4),
    (11, "address", False, "Office address", {"SHOW_MAP": "Y"}, 0.4),
    (12, "file", False, "Scan", {"SIZE": 20, "LIST_WIDTH": 0, "LIST_HEIGHT": 0, "MAX_SHOW_SIZE": 0,
                                 "MAX_ALLOWED_SIZE": 0, "EXTENSIONS": [], "TARGET_BLANK": "Y"}, 0.6),
    (13, "employee", False, "Account manager", {}, 0.2),
    (14, "crm_status", False, "Channel", {"ENTITY_TYPE": "SOURCE"}, 0.3),
    (15, "iblock_element", False, "Catalog item", {"IBLOCK_TYPE_ID": "", "IBLOCK_ID": 14, "DEFAULT_VALUE": "",
                                                   "DISPLAY": "LIST", "LIST_HEIGHT": 5, "ACTIVE_FILTER": "N"}, 0.5),
    (16, "crm", True, "Related items", {"LEAD": "N", "CONTACT": "N", "COMPANY": "Y", "DEAL": "Y"}, 0.3),
    (17, "string", True, "Tags", {"SIZE": 20, "ROWS": 1}, 0.7),
]

UF_BASE = {"deal": 1721244482, "contact": 1720697698, "company": 1687188367, "lead": 1704817278}

ENUM_LABELS = {
    5: ["Small business", "Mid-market", "Enterprise", "Public sector"],
    6: ["Hardware", "Software", "Services", "Training", "Support"],
}


def make_ufs(entity: str, enum_id_start: int) -> tuple[list, int]:
    """Build the UF_CRM_* fields of a legacy entity; returns (fields, next enumeration item id)."""
    out = []
    base = UF_BASE[entity]
    eid = enum_id_start
    for num, uf_type, mult, label, settings, empty in UF_TEMPLATE:
        code = f"UF_CRM_{base}{num:03d}"
        items = None
        if uf_type == "enumeration":
            items = []
            for lab in ENUM_LABELS[num]:
                items.append((eid, lab))
                eid += 1
        f = Field(code, uf_type, code, UF, multiple=mult, group="uf", uf_type=uf_type, label=label,
                  settings=dict(settings), items=items, empty_rate=empty)
        f.extra["_num"] = num
        out.append(f)
    return out, eid


def uf_from_user(code: str, uf_type: str, multiple: bool, label, items, value_fn, enum_id_start: int) -> Field:
    norm = None
    if uf_type == "enumeration":
        norm = []
        for k, it in enumerate(items or ["Option A", "Option B"]):
            if isinstance(it, dict):
                norm.append((int(it.get("ID", enum_id_start + k)), it.get("VALUE", "")))
            elif isinstance(it, (tuple, list)):
                norm.append((int(it[0]), it[1]))
            else:
                norm.append((enum_id_start + k, str(it)))
    settings = {"ENTITY_TYPE": "SOURCE"} if uf_type == "crm_status" else {}
    return Field(code, uf_type, code, UF, multiple=multiple, group="uf", uf_type=uf_type, label=label,
                 settings=settings, items=norm, value_fn=value_fn, empty_rate=0.2)


# ---------------------------------------------------------------- users

USER_FIELDS_TITLES = {
    "ID": "ID", "XML_ID": "External ID", "ACTIVE": "Active", "NAME": "First name", "LAST_NAME": "Last name",
    "SECOND_NAME": "Second name", "TITLE": "Title", "EMAIL": "E-mail", "LAST_LOGIN": "Last login",
    "DATE_REGISTER": "Registration date", "TIME_ZONE": "Time zone", "IS_ONLINE": "Online",
    "TIME_ZONE_OFFSET": "Time zone offset", "TIMESTAMP_X": "Modified on", "LAST_ACTIVITY_DATE": "Last activity date",
    "PERSONAL_GENDER": "Gender", "PERSONAL_PROFESSION": "Profession", "PERSONAL_WWW": "Personal website",
    "PERSONAL_BIRTHDAY": "Date of birth", "PERSONAL_PHOTO": "Photo", "PERSONAL_ICQ": "ICQ",
    "PERSONAL_PHONE": "Personal phone", "PERSONAL_FAX": "Fax", "PERSONAL_MOBILE": "Personal mobile",
    "PERSONAL_PAGER": "Pager", "PERSONAL_STREET": "Street address", "PERSONAL_CITY": "City",
    "PERSONAL_STATE": "State / Province", "PERSONAL_ZIP": "Zip", "PERSONAL_COUNTRY": "Country",
    "PERSONAL_MAILBOX": "Post office box", "PERSONAL_NOTES": "Additional notes", "WORK_PHONE": "Company phone",
    "WORK_COMPANY": "Company", "WORK_POSITION": "Position", "WORK_DEPARTMENT": "Department",
    "WORK_WWW": "Company website", "WORK_FAX": "Work fax", "WORK_PAGER": "Work pager",
    "WORK_STREET": "Company address", "WORK_MAILBOX": "Work post office box", "WORK_CITY": "Company city",
    "WORK_STATE": "Company state", "WORK_ZIP": "Company zip", "WORK_COUNTRY": "Company country",
    "WORK_PROFILE": "Company profile", "WORK_LOGO": "Company logo", "WORK_NOTES": "Work notes",
    "UF_SKYPE_LINK": "Skype chat", "UF_ZOOM": "Zoom", "UF_EMPLOYMENT_DATE": "Employment date",
    "UF_TIMEMAN": "Time tracking", "UF_DEPARTMENT": "Departments", "UF_INTERESTS": "Interests",
    "UF_SKILLS": "Skills", "UF_WEB_SITES": "Other websites", "UF_XING": "Xing", "UF_LINKEDIN": "LinkedIn",
    "UF_FACEBOOK": "Facebook", "UF_TWITTER": "Twitter", "UF_SKYPE": "Skype", "UF_DISTRICT": "District",
    "UF_PHONE_INNER": "Extension number", "USER_TYPE": "User type",
}

# field visibility per scope (docs/bitrix24-api-notes.md#methods-and-scopes)
USER_BASIC = {"ID", "XML_ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "TITLE", "EMAIL", "PERSONAL_PHONE",
              "WORK_PHONE", "WORK_POSITION", "WORK_COMPANY", "IS_ONLINE", "TIME_ZONE", "TIMESTAMP_X",
              "TIME_ZONE_OFFSET", "DATE_REGISTER", "LAST_ACTIVITY_DATE", "PERSONAL_PROFESSION", "PERSONAL_GENDER",
              "PERSONAL_BIRTHDAY", "PERSONAL_PHOTO", "PERSONAL_CITY", "PERSONAL_STATE", "PERSONAL_COUNTRY",
              "WORK_CITY", "WORK_STATE", "WORK_COUNTRY", "UF_DEPARTMENT", "UF_PHONE_INNER", "USER_TYPE"}
USER_BRIEF = {"ID", "XML_ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "TITLE", "IS_ONLINE", "TIME_ZONE",
              "TIMESTAMP_X", "TIME_ZONE_OFFSET", "DATE_REGISTER", "LAST_ACTIVITY_DATE", "PERSONAL_PROFESSION",
              "PERSONAL_GENDER", "PERSONAL_BIRTHDAY", "PERSONAL_PHOTO", "PERSONAL_CITY", "PERSONAL_STATE",
              "PERSONAL_COUNTRY", "WORK_POSITION", "WORK_CITY", "WORK_STATE", "WORK_COUNTRY", "UF_DEPARTMENT",
              "USER_TYPE"}

CALL_FIELDS = ["ID", "PORTAL_USER_ID", "PORTAL_NUMBER", "PHONE_NUMBER", "CALL_ID", "EXTERNAL_CALL_ID",
               "CALL_CATEGORY", "CALL_LOG", "CALL_DURATION", "CALL_START_DATE", "CALL_RECORD_URL", "CALL_VOTE",
               "COST", "COST_CURRENCY", "CALL_FAILED_CODE", "CALL_FAILED_REASON", "CRM_ENTITY_TYPE",
               "CRM_ENTITY_ID", "CRM_ACTIVITY_ID", "REST_APP_ID", "REST_APP_NAME", "TRANSCRIPT_ID",
               "TRANSCRIPT_PENDING", "SESSION_ID", "REDIAL_ATTEMPT", "COMMENT", "RECORD_DURATION",
               "RECORD_FILE_ID", "CALL_TYPE"]


# ---------------------------------------------------------------- legacy CRM lists added later
# (crm.quote/requisite/address/productsection.*: the family of crm.deal.list; an address has no ID)

QUOTE_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("TITLE", "string", "Name"),
    F("QUOTE_NUMBER", "string", "Quote #"),
    F("STATUS_ID", "crm_status", "Status", status="QUOTE_STATUS"),
    F("CURRENCY_ID", "crm_currency", "Currency"),
    F("OPPORTUNITY", "double", "Amount", FLOAT2),
    F("TAX_VALUE", "double", "Tax", FLOAT2),
    F("DEAL_ID", "crm_deal", "Deal", INT, settings={"parentEntityTypeId": 2}),
    F("LEAD_ID", "crm_lead", "Lead", INT, settings={"parentEntityTypeId": 1}),
    F("COMPANY_ID", "crm_company", "Company", INT),
    F("CONTACT_ID", "crm_contact", "Contact", INT, "D"),
    F("MYCOMPANY_ID", "crm_company", "Your company details", INT),
    F("BEGINDATE", "date", "Date created", DATE),
    F("CLOSEDATE", "date", "Expiration date", DATE),
    F("CLOSED", "char", "Closed"),
    F("OPENED", "char", "Available to everyone"),
    F("COMMENTS", "text", "Comment"),
    *COMMON_TAIL,
]

REQUISITE_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("ENTITY_TYPE_ID", "integer", "Parent type", INT, "QI"),
    F("ENTITY_ID", "integer", "Parent", INT, "QI"),
    F("PRESET_ID", "integer", "Template", INT, "Q"),
    F("DATE_CREATE", "datetime", "Created on", DT, "R"),
    F("DATE_MODIFY", "datetime", "Modified on", DT, "R"),
    F("CREATED_BY_ID", "user", "Created by", INT, "R"),
    F("MODIFY_BY_ID", "user", "Modified by", INT, "R"),
    F("NAME", "string", "Name", flags="Q"),
    F("CODE", "string", "Symbolic code"),
    F("XML_ID", "string", "External ID"),
    F("ORIGINATOR_ID", "string", "External source"),
    F("ACTIVE", "char", "Active"),
    F("ADDRESS_ONLY", "char", "Address only"),
    F("SORT", "integer", "Sort", INT),
    F("RQ_COMPANY_NAME", "string", "Company name"),
    F("RQ_NAME", "string", "Name"),
    F("RQ_INN", "string", "TIN"),
    F("RQ_KPP", "string", "KPP"),
    F("RQ_VAT_ID", "string", "VAT ID"),
]

ADDRESS_STD = [
    F("TYPE_ID", "integer", "Address type", INT, "QI"),
    F("ENTITY_TYPE_ID", "integer", "Parent type", INT, "QI"),
    F("ENTITY_ID", "integer", "Parent", INT, "QI"),
    F("ADDRESS_1", "string", "Street, building"),
    F("ADDRESS_2", "string", "Suite / Apartment"),
    F("CITY", "string", "City"),
    F("POSTAL_CODE", "string", "Zip"),
    F("REGION", "string", "Region"),
    F("PROVINCE", "string", "State / Province"),
    F("COUNTRY", "string", "Country"),
    F("COUNTRY_CODE", "string", "Country code"),
    F("LOC_ADDR_ID", "integer", "Location address ID", INT),
    F("ANCHOR_TYPE_ID", "integer", "Main parent type", INT, "R"),
    F("ANCHOR_ID", "integer", "Main parent", INT, "R"),
]

SECTION_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("CATALOG_ID", "integer", "Catalog", INT, "Q"),
    F("SECTION_ID", "integer", "Parent section", INT),
    F("NAME", "string", "Name", flags="Q"),
    F("XML_ID", "string", "External ID"),
    F("CODE", "string", "Symbolic code"),
]


# every legacy CRM list (crm.<entity>.list / .fields) and its standard fields
LEGACY_STD = {"contact": CONTACT_STD, "company": COMPANY_STD, "deal": DEAL_STD, "lead": LEAD_STD,
              "activity": ACTIVITY_STD, "product": PRODUCT_STD, "quote": QUOTE_STD, "requisite": REQUISITE_STD,
              "address": ADDRESS_STD, "productsection": SECTION_STD}
# the fullest select of each (ground truth); the others take DEFAULT_FULL_SELECT
FULL_SELECT = {"activity": ["*", "COMMUNICATIONS"], "product": ["*"], "quote": ["*", "UF_*"],
               "requisite": ["*", "UF_*"], "address": ["*"], "productsection": ["*"]}
DEFAULT_FULL_SELECT = ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]


def legacy_fields(world: Any, ent: str) -> list:
    """Every field of a legacy CRM entity: the standard ones, then its user fields."""
    return LEGACY_STD[ent] + world.ufs.get(ent, [])
