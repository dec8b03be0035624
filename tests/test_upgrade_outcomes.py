"""Course policies and session outcomes (issue 11, schema 5) on a store the previous release
built: an extension of ``tests/test_upgrade.py``, which builds that store with the previous
release itself and upgrades it (from schema 3 through 4 to 5)."""

from __future__ import annotations

from test_upgrade import new, previous, upgraded  # noqa: F401,F811  (the fixtures)

OFF = {"min_notice": None, "cancel_notice": None, "horizon": None, "max_active": None,
       "auto_approve": False}


def test_policies_and_outcomes_work_on_the_upgraded_store(upgraded):  # noqa: F811 (the fixture)
    db, ids = upgraded["db"], upgraded["ids"]
    assert [c["policy"] for c in new("course", "list", "--json", db=db)] == [OFF, OFF]
    shown = new("request", "list", "--status", "all", "--json", db=db)
    assert shown and all((r["attendance"], r["rating"]) == (None, None) for r in shown)

    # sessions the previous release completed take an attendance and a rating
    done = new("request", "complete", str(ids["past1_alan"]), "--attended", "--json",
               user="ada", db=db)
    assert (done["status"], done["attendance"]) == ("completed", "attended")
    new("request", "complete", str(ids["past2_eve"]), "--no-show", user="ada", db=db)
    rated = new("request", "rate", str(ids["past2_kat"]), "--stars", "4", "--json", user="kat",
                db=db)
    assert rated["rating"] == {"stars": 4, "comment": None}
    refused = new("request", "rate", str(ids["past2_eve"]), "--stars", "5", user="eve", db=db,
                  code=5)
    assert "no-show" in refused.stderr
    report = new("course", "report", "MATH101", "--json", user="ada", db=db)
    assert (report["sessions_completed"], report["attended"], report["no_shows"],
            report["ratings"], report["average_stars"]) == (3, 1, 1, 1, 4.0)

    # policies count what the previous release booked: kat holds s2, s4 and the series' first
    new("course", "set", "MATH101", "--max-active", "3", user="ada", db=db)
    refused = new("request", "send", str(ids["free"]), user="kat", db=db, code=5)
    assert "(max-active): you hold 3" in refused.stderr
    mine = [i["request"] for i in new("agenda", "--days", "30", "--json", user="kat", db=db)]
    assert {ids["s2_kat"], ids["s4_kat"], ids["ser_kat"]} <= set(mine)
