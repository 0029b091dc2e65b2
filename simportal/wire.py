"""Raw row -> wire row rendering (docs/bitrix24-api-notes.md#field-metadata-and-values): legacy CRM strings vs crm.item native types."""
from __future__ import annotations

from typing import Any, Callable

from .schema import DATE, DT, FILE, FLOAT2, INT, MF, OBJ, RAW, STR, UF

OMIT = object()
SHOW = {"contact": "crm.contact.show", "company": "crm.company.show", "deal": "crm.deal.show",
        "lead": "crm.lead.show"}


def _fmt_double(v) -> str:
    s = ("%.4f" % v).rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


def legacy_uf(f, v, clock, ent, id_, opts) -> Any:
    if v is None:
        return None
    if f.multiple:
        if not v:
            return False if getattr(opts, "empty_multiple_uf_false", False) else []
        return [legacy_uf_scalar(f, x, clock, ent, id_) for x in v]
    return legacy_uf_scalar(f, v, clock, ent, id_)


def legacy_uf_scalar(f, v, clock, ent, id_) -> Any:
    t = f.uf_type
    if t in ("integer", "enumeration", "employee", "iblock_element", "iblock_section"):
        return str(v)
    if t == "double":
        return _fmt_double(v)
    if t == "boolean":
        return "1" if v else "0"
    if t == "datetime":
        return clock.fmt_dt(v)
    if t == "date":
        return clock.fmt_date(v)
    if t == "file":
        fid = v["id"]
        base = f"/bitrix/components/bitrix/{SHOW.get(ent, 'crm.deal.show')}/show_file.php?ownerId={id_}" \
               f"&fieldName={f.code}&dynamic=Y&fileId={fid}"
        return {"id": fid, "showUrl": base, "downloadUrl": base + "&auth="}
    return v


def item_uf(f, v, clock, opts) -> Any:
    if v is None:
        return None
    if f.multiple:
        return [item_uf_scalar(f, x, clock) for x in (v or [])]
    return item_uf_scalar(f, v, clock)


def item_uf_scalar(f, v, clock) -> Any:
    t = f.uf_type
    if t == "boolean":
        return "Y" if v else "N"
    if t == "datetime":
        return clock.fmt_dt(v)
    if t == "date":
        return clock.fmt_date(v)
    if t == "file":
        return {"id": v["id"], "url": f"/bitrix/tools/crm_show_file.php?fileId={v['id']}",
                "urlMachine": f"/rest/crm.controller.item.getFile?fileId={v['id']}"}
    if t == "double":
        return float(v)
    return v


def legacy_plan(fields, ent, clock, opts) -> Callable[[list], list]:
    """Compile a renderer for legacy CRM rows: fn(list of raw dicts) -> list of wire dicts.

    The renderer is generated Python source (one statement per field) and cached by field signature;
    this keeps rendering cheap enough for million-row extractions.
    """
    empty_false = bool(getattr(opts, "empty_multiple_uf_false", False))
    key = (ent, clock.serial, empty_false, tuple((f.code, f.kind, f.uf_type, f.multiple, id(f)) for f in fields))
    fn = _CACHE.get(key)
    if fn is None:
        if len(_CACHE) > 256:
            _CACHE.clear()
        fn = _compile_legacy(fields, ent, clock, opts)
        _CACHE[key] = fn
    return fn


_CACHE: dict = {}
# legacy wire expression per UF type ({} = the value variable); other types go through legacy_uf()
_UF_INLINE = {"string": "{}", "money": "{}", "url": "{}", "address": "{}", "crm_status": "{}", "crm": "{}",
              "integer": "str({})", "enumeration": "str({})", "employee": "str({})", "iblock_element": "str({})",
              "iblock_section": "str({})", "boolean": "('1' if {} else '0')", "datetime": "fdt({})",
              "date": "fdate({})"}


def _compile_legacy(fields, ent, clock, opts) -> Callable[[list], list]:
    empty_false = bool(getattr(opts, "empty_multiple_uf_false", False))
    ns = {"fdt": clock.fmt_dt, "fdate": clock.fmt_date, "OMIT": OMIT, "str": str}
    lines = ["def render_rows(raws):", "    out = []", "    append = out.append", "    for raw in raws:",
             "        g = raw.get", "        d = {}"]
    for i, f in enumerate(fields):
        c = repr(f.code)
        k = f.kind
        lines.append(f"        v = g({c})")
        if k in (STR, RAW):
            lines.append(f"        d[{c}] = v")
        elif k == INT and f.multiple:
            lines.append(f"        d[{c}] = [str(x) for x in v] if v else []")
        elif k == INT:
            lines.append(f"        d[{c}] = None if v is None else str(v)")
        elif k == DT:
            lines.append(f"        d[{c}] = '' if v is None else fdt(v)")
        elif k == DATE:
            lines.append(f"        d[{c}] = '' if v is None else fdate(v)")
        elif k == FLOAT2:
            lines.append(f"        d[{c}] = None if v is None else '%.2f' % v")
        elif k == OBJ:
            lines.append(f"        d[{c}] = v if v else []")
        elif k == MF:
            lines.append("        if v:")
            lines.append(f"            d[{c}] = [{{'ID': a, 'VALUE_TYPE': b, 'VALUE': x, 'TYPE_ID': t}} "
                         f"for a, b, x, t in v]")
        else:
            if k == FILE:
                def fn(v, raw, code=f.code) -> Any:
                    if not v:
                        return OMIT
                    base = f"/bitrix/components/bitrix/{SHOW.get(ent, 'crm.deal.show')}/show_file.php?" \
                           f"ownerId={raw['ID']}&fieldName={code}&dynamic=N&fileId={v['id']}"
                    return {"id": v["id"], "showUrl": base, "downloadUrl": base + "&auth="}
            elif k == UF and f.uf_type in _UF_INLINE:
                expr = _UF_INLINE[f.uf_type]
                if f.multiple:
                    empty = "False" if empty_false else "[]"
                    lines.append(f"        d[{c}] = None if v is None else ([{expr.format('x')} for x in v] "
                                 f"if v else {empty})")
                else:
                    lines.append(f"        d[{c}] = None if v is None else {expr.format('v')}")
                continue
            elif k == UF:
                def fn(v, raw, f=f) -> Any:
                    return legacy_uf(f, v, clock, ent, raw["ID"], opts)
            else:
                def fn(v, raw) -> Any:
                    return v
            ns[f"f{i}"] = fn
            lines.append(f"        w = f{i}(v, raw)")
            lines.append("        if w is not OMIT:")
            lines.append(f"            d[{c}] = w")
    lines += ["        append(d)", "    return out"]
    exec("\n".join(lines), ns)  # noqa: S102 - source is generated from our own field table
    return ns["render_rows"]


def item_plan(fields, clock, opts, original_uf_names=False) -> list:
    plan = []
    for f in fields:
        key = (f.upper or f.code) if (original_uf_names and f.dynamic) else f.code
        rawkey = f.extra.get("raw", f.code)
        k = f.kind
        if k == DT:
            plan.append((key, rawkey, lambda v, raw, c=clock: None if v is None else c.fmt_dt(v)))
        elif k == DATE:
            plan.append((key, rawkey, lambda v, raw, c=clock: None if v is None else c.fmt_date(v)))
        elif k == FLOAT2:
            plan.append((key, rawkey, lambda v, raw: None if v is None else float(v)))
        elif k == UF:
            plan.append((key, rawkey, lambda v, raw, f=f: item_uf(f, v, clock, opts)))
        else:
            plan.append((key, rawkey, None))
    return plan


def render(raws, plan) -> list:
    return plan(raws)


def render_items(raws, plan) -> list:
    out = []
    for raw in raws:
        d = {}
        for key, code, fn in plan:
            v = raw.get(code)
            d[key] = v if fn is None else fn(v, raw)
        out.append(d)
    return out
