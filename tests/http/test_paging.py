"""One cursor scheme for every list (issue 15): `{items, next}`, `?limit&after`, `next` null on the
last page and never a cursor to an empty page; an investor's orders are paged too."""

from __future__ import annotations


async def _walk(api, path: str, role: str, limit: int, **kw) -> list[list[str]]:
    pages, after = [], None
    while True:
        sep = "&" if "?" in path else "?"
        query = f"{sep}limit={limit}" + (f"&after={after}" if after else "")
        status, page = await api.call("GET", path + query, role, **kw)
        assert status == 200, page
        pages.append([i["id"] for i in page["items"]])
        after = page["next"]
        if after is None:
            return pages
        assert page["items"], "a cursor must never lead from an empty page"


async def test_a_list_of_exactly_limit_items_has_no_next(api):
    ids = [await api.open_instrument(f"PG{i}", units=10) for i in range(2)]
    assert await _walk(api, "/api/v1/instruments", "admin", 2) == [sorted(ids)]
    assert await _walk(api, "/api/v1/instruments", "admin", 1) == [[i] for i in sorted(ids)]


async def test_an_investors_orders_are_paged(api):
    investor_id = await api.active_investor("pager@example.com")
    instrument_id = await api.open_instrument("PGO1", units=100)
    orders = [(await api.order(investor_id, instrument_id, 1))["id"] for _ in range(3)]
    pages = await _walk(api, f"/api/v1/investors/{investor_id}/orders", "investor", 2, investor_id=investor_id)
    assert pages == [orders[:2], orders[2:]]


async def test_a_filtered_page_is_never_empty_with_a_next(api, monkeypatch):
    from drexfy.domain.processes import queries

    monkeypatch.setattr(queries, "SCAN_PAGES", 1)  # the smallest scan budget
    pending = []
    for i in range(5):
        status, inv = await api.call(
            "POST",
            "/api/v1/investors",
            "frontend",
            json={"legal_name": "P", "email": f"p{i}@example.com", "country": "DE", "kind": "INDIVIDUAL"},
        )
        assert status == 201
        pending.append(inv["id"])
    active = await api.active_investor("zz-active@example.com")
    pages = await _walk(api, "/api/v1/investors?status=ACTIVE", "admin", 1)
    assert [i for p in pages for i in p] == [active]
    assert pages[0] == [active]  # the non-matching ones before it never make an empty page


async def test_audit_and_repayment_lists_carry_a_cursor(api):
    investor_id = await api.active_investor("audit@example.com")
    pages = await _walk(api, f"/api/v1/compliance/investors/{investor_id}/events", "compliance", 2)
    assert len(pages) >= 2 and all(pages)
    instrument_id = await api.open_instrument("PGR1", units=10)
    status, page = await api.call("GET", f"/api/v1/instruments/{instrument_id}/repayments", "admin")
    assert (status, page) == (200, {"items": [], "next": None})
