"""The simulated portal's data: deterministic in (size, seed, anchor), built by `World` (world.py) from one
mixin per entity family:

    common         DAY, ENT_CODE, mix (the per-row seed), weighted
    world          World: sizes, random streams, id and time sequences; builds every table in a fixed order
    crm            the six legacy CRM tables and the row parts they share
    clients        contacts, companies, leads          deals          deals, their contacts
    activities     activities                         catalog        products, product sections
    userfields     UF values                          staff          users, departments
    spa            SPA items (128, 1032)              history        stage history
    deal_children  timeline comments, product rows    telephony      calls, open lines
    directories    statuses, pipelines                quotes         quotes, smart invoices
    requisites     requisites, addresses              tasks          tasks
"""
from .world import World

__all__ = ["World"]
