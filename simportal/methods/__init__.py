"""The Bitrix REST methods of the simulated portal, one module per family; each handler registers
itself with `@method` (registry.py) when its module is imported, which this package does.

    registry       REGISTRY, @method, Ctx, Result (imports no handler module)
    paging         shared list helpers: `start` paging, total/next, one page of a table, ListTable
    legacy_lists   crm.{contact,company,deal,lead,activity,product,quote,requisite,address,productsection}.*
    items          crm.item.list / crm.item.fields (universal: legacy entities, SPAs, smart invoices)
    deal_children  crm.deal.productrows.get, crm.item.productrow.list, crm.deal.contact.items.get
    timeline       crm.timeline.comment.list, crm.stagehistory.list
    crm_reference  crm.status.list, crm.currency.*, crm.type.list, crm.category.list
    people         user.get, user.fields, department.get
    telephony      voximplant.statistic.get, imopenlines.config.list.get
    tasks          tasks.task.list, tasks.task.getFields
    system         scope, server.time
"""
from __future__ import annotations

from . import crm_reference, deal_children, items, legacy_lists, people, system, tasks, telephony, timeline  # noqa: F401 (registration)
from .registry import REGISTRY, Ctx, Method, Result, method

__all__ = ["REGISTRY", "Ctx", "Method", "Result", "method"]
