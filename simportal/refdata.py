"""Static reference data: pipelines/stages, directories (crm.status.list), SPA types, name pools."""
from __future__ import annotations

# pipeline stages: (code, name, semantics) where semantics: None = in progress, "S" success, "F" failure
DEAL_PIPELINES = {
    0: ("General", 300, "DEAL_STAGE", [
        ("NEW", "New", None), ("PREPARATION", "Preparing documents", None),
        ("PREPAYMENT_INVOICE", "Invoice", None), ("EXECUTING", "In progress", None),
        ("FINAL_INVOICE", "Final invoice", None), ("UC_KN8KFI", "Waiting for approval", None),
        ("WON", "Deal won", "S"), ("LOSE", "Deal lost", "F"), ("APOLOGY", "Analyze failure", "F")]),
    1: ("Partners", 200, "DEAL_STAGE_1", [
        ("C1:NEW", "New", None), ("C1:PREPARATION", "Preparing documents", None),
        ("C1:EXECUTING", "In progress", None), ("C1:WON", "Deal won", "S"), ("C1:LOSE", "Deal lost", "F")]),
    2: ("Service", 400, "DEAL_STAGE_2", [
        ("C2:NEW", "New", None), ("C2:UC_8JY3QR", "On site", None),
        ("C2:WON", "Done", "S"), ("C2:LOSE", "Cancelled", "F")]),
}
# probability weights of landing in each stage (same order as above)
DEAL_STAGE_WEIGHTS = {0: [15, 10, 8, 7, 5, 5, 30, 15, 5], 1: [20, 15, 15, 35, 15], 2: [25, 25, 35, 15]}
DEAL_CATEGORY_WEIGHTS = [(0, 0.70), (1, 0.93), (2, 1.0)]

LEAD_PIPELINE = ("STATUS", [
    ("NEW", "Unassigned", None), ("IN_PROCESS", "In progress", None), ("UC_3J0IH6", "Waiting for documents", None),
    ("PROCESSED", "Processed", None), ("CONVERTED", "Good lead", "S"), ("JUNK", "Junk lead", "F")])
LEAD_STAGE_WEIGHTS = [20, 20, 8, 12, 25, 15]

# SPA: entityTypeId -> type definition
SPA_TYPES = {
    128: {"id": 1, "title": "Service requests", "code": "service_request", "categories": {
        3: ("Default", 100, True, [("DT128_3:NEW", "New", None), ("DT128_3:PREPARATION", "Preparation", None),
                                   ("DT128_3:CLIENT", "Waiting for client", None),
                                   ("DT128_3:SUCCESS", "Success", "S"), ("DT128_3:FAIL", "Failed", "F")]),
        4: ("Warranty", 200, False, [("DT128_4:NEW", "New", None), ("DT128_4:SUCCESS", "Repaired", "S"),
                                     ("DT128_4:FAIL", "Rejected", "F")])},
        "flags": {"isCategoriesEnabled": "Y", "isStagesEnabled": "Y", "isBeginCloseDatesEnabled": "Y",
                  "isClientEnabled": "Y", "isUseInUserfieldEnabled": "Y", "isLinkWithProductsEnabled": "Y",
                  "isMycompanyEnabled": "Y", "isDocumentsEnabled": "Y", "isSourceEnabled": "Y",
                  "isObserversEnabled": "Y", "isRecyclebinEnabled": "Y", "isAutomationEnabled": "Y",
                  "isBizProcEnabled": "Y", "isSetOpenPermissions": "Y", "isPaymentsEnabled": "N",
                  "isCountersEnabled": "Y"}},
    1032: {"id": 2, "title": "Equipment", "code": "", "categories": {
        5: ("Default", 100, True, [("DT1032_5:NEW", "Registered", None), ("DT1032_5:SUCCESS", "In use", "S"),
                                   ("DT1032_5:FAIL", "Written off", "F")])},
        "flags": {"isCategoriesEnabled": "N", "isStagesEnabled": "Y", "isBeginCloseDatesEnabled": "N",
                  "isClientEnabled": "N", "isUseInUserfieldEnabled": "N", "isLinkWithProductsEnabled": "N",
                  "isMycompanyEnabled": "N", "isDocumentsEnabled": "N", "isSourceEnabled": "N",
                  "isObserversEnabled": "Y", "isRecyclebinEnabled": "Y", "isAutomationEnabled": "N",
                  "isBizProcEnabled": "N", "isSetOpenPermissions": "N", "isPaymentsEnabled": "N",
                  "isCountersEnabled": "N"}},
}

DIRECTORIES = {
    "SOURCE": [("CALL", "Call"), ("EMAIL", "E-Mail"), ("WEB", "Website"), ("ADVERTISING", "Advertising"),
               ("PARTNER", "Existing client"), ("RECOMMENDATION", "By recommendation"),
               ("TRADE_SHOW", "Show/Exhibition"), ("WEBFORM", "CRM form"), ("CALLBACK", "Callback"),
               ("RC_GENERATOR", "Sales boost"), ("STORE", "Online store"), ("OTHER", "Other"),
               ("UC_2ZS9ER", "Instagram")],
    "CONTACT_TYPE": [("CLIENT", "Clients"), ("SUPPLIER", "Suppliers"), ("PARTNER", "Partners"),
                     ("OTHER", "Other")],
    "COMPANY_TYPE": [("CUSTOMER", "Client"), ("SUPPLIER", "Supplier"), ("COMPETITOR", "Competitor"),
                     ("PARTNER", "Partner"), ("OTHER", "Other")],
    "INDUSTRY": [("IT", "Information Technology"), ("TELECOM", "Telecommunication"),
                 ("MANUFACTURING", "Manufacturing"), ("BANKING", "Banking Services"),
                 ("CONSULTING", "Consulting"), ("FINANCE", "Finance"), ("GOVERNMENT", "Government"),
                 ("DELIVERY", "Delivery"), ("ENTERTAINMENT", "Entertainment"), ("NOTPROFIT", "Non-profit"),
                 ("OTHER", "Other")],
    "EMPLOYEES": [("EMPLOYEES_1", "less than 50"), ("EMPLOYEES_2", "50-250"), ("EMPLOYEES_3", "250-500"),
                  ("EMPLOYEES_4", "over 500")],
    "DEAL_TYPE": [("SALE", "Sales"), ("COMPLEX", "Integrated sale"), ("GOODS", "Merchandise sales"),
                  ("SERVICES", "Service sales"), ("SERVICE", "After-sales service")],
    "HONORIFIC": [("HNR_EN_1", "Mr."), ("HNR_EN_2", "Mrs."), ("HNR_EN_3", "Ms."), ("HNR_EN_4", "Dr.")],
}

STAGE_COLORS = {None: "#39A8EF", "S": "#7BD500", "F": "#FF5752"}
EXTRA_SEM = {None: "process", "S": "success", "F": "failure"}

CURRENCIES = ["USD", "EUR", "RUB", "USD", "EUR"]

FIRST_NAMES = ["Ivan", "Anna", "John", "Maria", "Klaus", "Jürgen", "Olga", "Пётр", "Светлана", "Lena", "Ahmed",
               "Chen", "Sofia", "Luca", "Emma", "Noah", "Zoë", "José", "Åsa", "Nikolai", "Fatima", "Yuki",
               "Erasmus", "Grace", "Mateo", "Ingrid", "Raj", "Chloé", "Dmitri", "Aisha"]
LAST_NAMES = ["Petrov", "Smith", "Müller", "Weber", "Ivanova", "García", "O'Brien", "Rossi", "Kowalski",
              "Nakamura", "Johnson", "Schmidt", "Dubois", "Lindqvist", "Сидоров", "Golden", "Novak", "Kim",
              "Fernández", "Hansen", "Brown", "Wang", "Silva", "Yilmaz", "Haddad"]
SECOND_NAMES = ["Ivanovich", "Petrovna", "J.", "Maria", "Aleksandrovich"]
COMPANY_WORDS = ["Müller", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
                 "Tyrell", "Soylent", "Cyberdyne", "Nakatomi", "Ромашка", "Oceanic", "Aperture", "Wonka"]
COMPANY_SUFFIX = ["GmbH", "LLC", "Ltd.", "Inc.", "& Sons", "AG", "ООО", "S.A.", "Group", "Partners"]
CITIES = [("Berlin", "Germany", "DE", "52.5200;13.4050"), ("Moscow", "Russia", "RU", "55.7558;37.6173"),
          ("New York", "USA", "US", "40.7128;-74.0060"), ("São Paulo", "Brazil", "BR", "-23.5505;-46.6333"),
          ("Warsaw", "Poland", "PL", "52.2297;21.0122"), ("Almaty", "Kazakhstan", "KZ", "43.2220;76.8512"),
          ("London", "United Kingdom", "GB", "51.5074;-0.1278"), ("Tokyo", "Japan", "JP", "35.6762;139.6503")]
STREETS = ["Unter den Linden 5", "Tverskaya 12", "5th Avenue 350", "Rua Augusta 1200", "Marszałkowska 10",
           "Abay Ave 44", "Baker Street 221b", "Ginza 4-6-16"]
POSTS = ["CEO", "Sales manager", "Purchasing manager", "CTO", "Accountant", "Office manager", "Engineer"]
DEAL_WORDS = ["License", "Implementation", "Support contract", "Hardware", "Consulting", "Training", "Renewal",
              "Upgrade", "Integration", "Audit"]
PRODUCT_WORDS = ["Router", "Laptop", "Monitor", "Keyboard", "License", "Cable", "Server", "Switch", "Printer",
                 "Headset", "Webcam", "Dock", "SSD", "Battery"]
COLORS = ["Red", "Green", "Blue", "Black", "White", "Silver"]
COMMENTS = ["Call back on [B]Monday[/B]", "Client asked for a \"discount\" & faster delivery",
            "See <attachment> for details", "Follow-up after the demo", "[URL=https://example.com/doc]Spec[/URL]",
            "Multi-line\ncomment\nwith three lines", "Ünïcödé comment — ok", ""]
PHONE_TYPES = ["WORK", "MOBILE", "HOME", "FAX", "OTHER"]
EMAIL_TYPES = ["WORK", "HOME", "OTHER"]
WEB_TYPES = ["WORK", "HOME", "OTHER"]
IM_TYPES = ["TELEGRAM", "SKYPE", "VIBER", "OPENLINE", "IMOL"]

# Built-in dynamic types read through crm.item.* but not listed by crm.type.list (docs/bitrix24-api-notes.md#universal-crm-item-methods):
# the smart invoices (entityTypeId 31), same shape as an SPA_TYPES entry. Their stage directory is
# SMART_INVOICE_STAGE_{category}, codes DT31_{category}:X.
BUILTIN_TYPES = {
    31: {"id": 0, "title": "Invoices", "code": "", "categories": {
        6: ("Invoices", 500, True, [("DT31_6:N", "New", None), ("DT31_6:S", "Sent to client", None),
                                    ("DT31_6:P", "Paid", "S"), ("DT31_6:D", "Declined", "F")])},
        "flags": {"isCategoriesEnabled": "N", "isStagesEnabled": "Y", "isBeginCloseDatesEnabled": "Y",
                  "isClientEnabled": "Y", "isUseInUserfieldEnabled": "N", "isLinkWithProductsEnabled": "Y",
                  "isMycompanyEnabled": "Y", "isDocumentsEnabled": "Y", "isSourceEnabled": "N",
                  "isObserversEnabled": "Y", "isRecyclebinEnabled": "Y", "isAutomationEnabled": "Y",
                  "isBizProcEnabled": "Y", "isSetOpenPermissions": "Y", "isPaymentsEnabled": "Y",
                  "isCountersEnabled": "Y"}},
}


def type_spec(etid: int) -> dict:
    """An SPA's or a built-in dynamic type's definition."""
    return SPA_TYPES.get(etid) or BUILTIN_TYPES[etid]


# Quote statuses (crm.status.list ENTITY_ID QUOTE_STATUS): (code, name, semantics)
QUOTE_STATUSES = [("DRAFT", "New", None), ("SENT", "Sent to client", None), ("RECEIVED", "Received", None),
                  ("APPROVED", "Approved", "S"), ("DECLAINED", "Declined", "F")]
QUOTE_STATUS_WEIGHTS = [15, 25, 10, 35, 15]

# crm.currency.list (DOCS crm-currency-list.md): (code, rate to base, sort, base, name, format)
CURRENCY_ROWS = [("USD", "1.0000", 100, "Y", "US Dollar", "$#"), ("EUR", "1.0850", 200, "N", "Euro", "# €"),
                 ("RUB", "0.0110", 300, "N", "Russian Ruble", "# ₽")]

# crm.productsection.list: (name, parent index or None)
PRODUCT_SECTIONS = [("Hardware", None), ("Software", None), ("Services", None), ("Network", 0),
                    ("Peripherals", 0), ("Licenses", 1), ("Support", 2)]

TASK_TITLES = ["Call the client", "Prepare the offer", "Send the contract", "Check the payment", "Plan the demo",
               "Update the price list", "Review the quote", "Onboard the customer"]
