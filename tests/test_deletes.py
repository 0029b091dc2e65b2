"""detect_deletes: an id-only scan finds rows deleted on the portal."""

import pytest
from conftest import query, source, tick


@pytest.mark.parametrize("mode", ["delete", "mark"])
def test_deleted_deals_are_removed_or_marked(fresh_portal, make_pipeline, mode):
    pipeline = make_pipeline()
    pipeline.run(source(fresh_portal, streams=["deals"], detect_deletes=mode))
    ids = sorted(int(r["ID"]) for r in fresh_portal.ground_truth("deal"))
    gone = [ids[0], ids[len(ids) // 2]]
    for deal_id in gone:
        fresh_portal.delete("deal", deal_id)
    tick(fresh_portal)
    fresh_portal.stats.reset()
    pipeline.run(source(fresh_portal, streams=["deals"], detect_deletes=mode))
    # scope (with the `.fields` riding along), the incremental batch, then the id scan: 2,500 ids per request
    assert fresh_portal.stats.requests_carrying("crm.deal.list") == 2
    assert fresh_portal.stats.http_requests() == 3
    if mode == "delete":
        assert query(pipeline, "select count(*) from deals")[0][0] == len(ids) - 2
        assert query(pipeline, f"select count(*) from deals where id in ({gone[0]}, {gone[1]})")[0][0] == 0
    else:
        rows = query(pipeline, "select id, _deleted, _deleted_at is not null, title from deals where _deleted")
        assert sorted(r[0] for r in rows) == gone
        assert all(r[1] and r[2] and r[3] for r in rows)  # the rest of the row is kept
        assert query(pipeline, "select count(*) from deals")[0][0] == len(ids)
    # a further run with nothing deleted changes nothing
    tick(fresh_portal)
    pipeline.run(source(fresh_portal, streams=["deals"], detect_deletes=mode))
    counts = dict(pipeline.last_trace.last_normalize_info.row_counts)
    assert counts.get("deals", 0) == 0


def test_detect_deletes_rejects_unknown_mode(portal):
    from bitrix24 import ConfigurationError

    with pytest.raises(ConfigurationError, match="detect_deletes"):
        list(source(portal, streams=["deals"], detect_deletes="purge").resources)
