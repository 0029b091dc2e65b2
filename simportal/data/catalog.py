"""The product catalog: product rows (crm.product.list) and product sections.

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from array import array

from .. import refdata as R
from ..store import Table


class CatalogRows:
    def _gen_product(self, id_, pos) -> dict:
        r = self.rng("product", id_)
        rnd = r.random
        name = f"{R.PRODUCT_WORDS[int(rnd() * len(R.PRODUCT_WORDS))]} {chr(65 + int(rnd() * 26))}{id_}"
        vid = 9000 + id_ * 4
        color = None if rnd() < 0.3 else {"VALUE_ID": str(vid), "VALUE": R.COLORS[int(rnd() * 6)]}
        ntags = int(rnd() * 3)
        tags = None if not ntags else [{"VALUE_ID": str(vid + 1 + k), "VALUE": f"tag{k}"} for k in range(ntags)]
        warranty = None if rnd() < 0.7 else {"VALUE_ID": str(vid + 3), "VALUE": str(12 * (1 + int(rnd() * 3)))}
        return {"ID": id_, "CATALOG_ID": 23, "NAME": name, "CODE": f"product_{id_}",
                "ACTIVE": "Y" if rnd() < 0.9 else "N", "SECTION_ID": None if rnd() < 0.3 else 40 + int(rnd() * 8),
                "XML_ID": str(id_), "DESCRIPTION": None if rnd() < 0.6 else "<p>Great product</p>",
                "DESCRIPTION_TYPE": "text" if rnd() < 0.6 else "html",
                "PRICE": round(int(rnd() * 500_000) / 100.0, 2), "CURRENCY_ID": R.CURRENCIES[int(rnd() * 5)],
                "VAT_ID": 1 if rnd() < 0.5 else None, "VAT_INCLUDED": "Y" if rnd() < 0.7 else "N",
                "MEASURE": 5 if rnd() < 0.8 else 9,
                "PREVIEW_PICTURE": None if rnd() < 0.8 else {
                    "id": 700_000 + id_,
                    "showUrl": f"/bitrix/components/bitrix/crm.product.file/download.php?productId={id_}"
                               f"&fieldName=PREVIEW_PICTURE&dynamic=N&fileId={700_000 + id_}",
                    "downloadUrl": f"/rest/1/x/crm.product.download?productId={id_}&fileId={700_000 + id_}"},
                "DETAIL_PICTURE": None,
                "CREATED_BY": 1, "MODIFIED_BY": self.user_pick(rnd),
                "PROPERTY_101": color, "PROPERTY_102": tags, "PROPERTY_103": warranty}

    def _build_sections(self) -> None:
        t = Table("productsection", self._gen_section, {})
        t.ids = array("q", (2 * i + 1 for i in range(len(R.PRODUCT_SECTIONS))))  # ids with gaps
        self.tables["productsection"] = t
        self.ufs["productsection"] = []

    def _gen_section(self, id_, pos) -> dict:
        name, parent = R.PRODUCT_SECTIONS[pos]
        return {"ID": id_, "CATALOG_ID": 25, "SECTION_ID": None if parent is None else 2 * parent + 1,
                "NAME": name, "XML_ID": f"section{id_}", "CODE": name.lower()}
