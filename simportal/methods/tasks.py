"""Tasks: tasks.task.list and tasks.task.getFields (scope `task`) (docs/bitrix24-api-notes.md#tasks).

tasks.task.list: filter, order and select take UPPER_SNAKE names (`>ID`, `>=CHANGED_DATE`, `UF_*` in select),
the rows come back wrapped as `{"tasks": [...]}` with camelCase keys and string values; unknown filter keys are
ignored; 50 a page from `start` (`start=-1`: no count, as the D7 controllers). tasks.task.getFields:
`{"fields": {UPPER_NAME: {title, type, values?, default?}}}` with the types `integer`, `string`, `enum`,
`datetime`, `double`, `array`, `crm`, `disk_file`.
"""
from __future__ import annotations

from typing import Any

from .. import query
from ..schema import DT, INT, STR, F
from ..util import ci_get, values_of
from .paging import list_page, page_result
from .registry import Ctx, Result, method

TASK_FIELDS = [
    ("ID", "integer", "ID"), ("PARENT_ID", "integer", "Parent task"), ("TITLE", "string", "Name"),
    ("DESCRIPTION", "string", "Description"), ("MARK", "enum", "Rating"), ("PRIORITY", "enum", "Priority"),
    ("MULTITASK", "enum", "Multitask"), ("NOT_VIEWED", "enum", None), ("REPLICATE", "enum", "Recurring task"),
    ("GROUP_ID", "integer", "Project"), ("STAGE_ID", "integer", "Stage"), ("CREATED_BY", "integer", "Creator"),
    ("CREATED_DATE", "datetime", None), ("RESPONSIBLE_ID", "integer", "Assignee"),
    ("ACCOMPLICES", "array", None), ("AUDITORS", "array", None), ("CHANGED_BY", "integer", "Changed by"),
    ("CHANGED_DATE", "datetime", "Change date"), ("STATUS", "enum", "Status"),
    ("STATUS_CHANGED_BY", "integer", "Status changed by"), ("CLOSED_BY", "integer", "Closed by"),
    ("CLOSED_DATE", "datetime", "Closing date"), ("DATE_START", "datetime", "Start date"),
    ("DEADLINE", "datetime", "Deadline"), ("ALLOW_CHANGE_DEADLINE", "enum", None),
    ("TASK_CONTROL", "enum", "Accept work"), ("TIME_ESTIMATE", "integer", "Estimated time"),
    ("COMMENTS_COUNT", "integer", "Number of comments"),
]
TASK_UFS = [("UF_CRM_TASK", "crm", "CRM entities"), ("UF_TASK_WEBDAV_FILES", "disk_file", "Upload files"),
            ("UF_AUTO_274515931", "string", "Customer ticket")]
YES_NO = {"Y": "Yes", "N": "No"}
TASK_VALUES = {"MARK": {"P": "Positive", "N": "Negative"}, "PRIORITY": {"2": "High", "1": "Medium", "0": "Low"},
               "STATUS": {"2": "Pending", "3": "In Progress", "4": "Awaiting Control", "5": "Completed",
                          "6": "Deferred"}}
TASK_DATES = {n for n, t, _ in TASK_FIELDS if t == "datetime"}
TASK_KIND = {n: (INT if t == "integer" or n in ("PRIORITY", "STATUS") else DT if t == "datetime" else STR)
             for n, t, _ in TASK_FIELDS + TASK_UFS}
TASK_FMAP = {n: F(n, "integer" if k == INT else "datetime" if k == DT else "string", n, k)
             for n, k in TASK_KIND.items() if n not in ("ACCOMPLICES", "AUDITORS") and not n.startswith("UF_")}
TASK_DEFAULT_SELECT = [n for n, _, _ in TASK_FIELDS]


def task_key(upper: str) -> str:
    """UPPER_SNAKE -> the camelCase key tasks.task.list answers with (UF_CRM_TASK -> ufCrmTask)."""
    parts = upper.lower().split("_")
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def _task_value(name, value, clock) -> Any:
    if value is None:
        return None
    if name in TASK_DATES:
        return clock.fmt_dt(value)
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value)


@method("tasks.task.list", "task", is_list=True)
def tasks_task_list(ctx: Ctx, params) -> Result:
    table = ctx.world.tables["task"]
    flt = ci_get(params, "filter")
    flt = {k: v for k, v in flt.items() if query.split_key(str(k))[3] in TASK_FMAP} if isinstance(flt, dict) else {}
    comp = query.Compiler(table, TASK_FMAP, ctx.clock, strict=False, opts=ctx.opts)
    comp.id_names = {"ID"}
    preds = comp.compile(flt)
    order = ci_get(params, "order")
    ordl = query.parse_order(order if isinstance(order, dict) else None, TASK_FMAP)
    page, total, offset, count = list_page(ctx, "controller", table, comp, preds, ordl)
    wanted = [str(s).upper() for s in values_of(ci_get(params, "select")) if isinstance(s, str)]
    names = [n for n in TASK_DEFAULT_SELECT if n in wanted or "*" in wanted] or list(TASK_DEFAULT_SELECT)
    if "UF_*" in wanted:
        names += [n for n, _, _ in TASK_UFS]
    else:
        names += [n for n, _, _ in TASK_UFS if n in wanted]
    if "ID" not in names:
        names.insert(0, "ID")
    clock = ctx.clock
    rows = []
    for p in page:
        raw = table.raw_at(p)
        rows.append({task_key(n): _task_value(n, raw.get(n), clock) for n in names})
    heavy = any(n.startswith("UF_") for n in names)
    return page_result(ctx, "controller", rows, total, offset, count, wrap="tasks", heavy=heavy)


@method("tasks.task.getfields", "task")  # method names are case-insensitive
def tasks_task_get_fields(ctx: Ctx, params) -> dict:
    out = {}
    for name, typ, title in TASK_FIELDS + TASK_UFS:
        d = {"title": title, "type": typ}
        if typ == "enum":
            d["values"] = TASK_VALUES.get(name, YES_NO)
        if name == "ID":
            d["primary"] = True
        out[name] = d
    return {"fields": out}
