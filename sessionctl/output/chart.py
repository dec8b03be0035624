"""``course report`` (``docs/reference/after-the-session.md#the-course-report``): the numbers,
then a bar a week of seats offered against booked."""

from __future__ import annotations

from datetime import timezone, tzinfo

from sessionctl.columns import Times, drawing, fit_line
from sessionctl.output import terminal as term
from sessionctl.output.json import emit_json
from sessionctl.output.tables import local_time, show_pairs
from sessionctl.timeparse import format_utc, zone_name


def report(view, tz: tzinfo, as_json: bool) -> None:
    """``course report``: the numbers, then a bar a week of seats offered against booked."""
    if as_json:
        return emit_json(_report_json(view))
    from sessionctl.domain.policy import describe

    booked = f"{view.seats_booked}"
    if view.utilisation is not None:
        booked += f" ({view.utilisation:.0%} of the seats offered)"
    stars = (f"{view.average_stars:.2f} from {view.ratings} rating{'' if view.ratings == 1 else 's'}"
             if view.ratings else "no ratings")
    show_pairs(f"{view.course}: {view.title}", [
        ("range", f"{local_time(view.start, tz)} to {local_time(view.end, tz)} ({zone_name(tz)})"),
        ("slots offered", view.slots_offered), ("seats offered", view.seats_offered),
        ("seats booked", booked), ("sessions completed", view.sessions_completed),
        ("attended", view.attended), ("no-shows", view.no_shows),
        ("cancelled by students", view.cancelled_by_students),
        ("cancelled by educators", view.cancelled_by_educators), ("moves", view.moves),
        ("average stars", stars), ("hours held", f"{view.hours_held:g}"),
        ("median notice", "none booked" if view.median_notice is None
         else describe(view.median_notice)),
    ])
    _week_chart(view.weeks)


def _report_json(view) -> dict:
    data = {"course": view.course, "from": format_utc(view.start), "to": format_utc(view.end)}
    for key in ("slots_offered", "seats_offered", "seats_booked", "utilisation",
                "sessions_completed", "attended", "no_shows", "cancelled_by_students",
                "cancelled_by_educators", "moves", "average_stars", "ratings", "hours_held"):
        data[key] = getattr(view, key)
    data["median_notice"] = view.median_notice
    data["weeks"] = [{"week": w.week.isoformat(), "offered": w.offered, "booked": w.booked,
                      "completed": w.completed} for w in view.weeks]
    return data


def _week_chart(weeks) -> None:
    """One line a week: booked seats as a solid bar, the free seats offered as a light one
    after it, scaled to the fullest week, then the numbers; Rich draws the coloured text."""
    from rich.text import Text

    look = term.look()
    this_year = Times(timezone.utc, term.now())  # (the year of the UTC clock, as ever)
    labels = [this_year.day(w.week) for w in weeks]
    counts = [f"{w.booked}/{w.offered}" for w in weeks]
    left = max(map(len, labels + ["week of"]))
    right = max(map(len, counts + ["seats"]))
    width = max(4, min(60, look.width - left - right - 4))
    most = max((w.offered for w in weeks), default=0)
    console = term.console()
    solid, light = drawing("█░", "#.")  # ASCII bars where the terminal cannot show blocks
    term.write("\n")
    console.print(Text(fit_line(f"seats booked ({solid}) and free ({light}) by week", look.width),
                       style="italic"))
    console.print(Text(f"{'week of':<{left}}  {'':<{width}}  {'seats':>{right}}".rstrip(),
                       style="bold"))
    for label, count, w in zip(labels, counts, weeks):
        full = round(w.offered * width / most) if most else 0
        done = min(full, max(1 if w.booked else 0, round(w.booked * width / most))) if most else 0
        row = Text(f"{label:<{left}}  ")
        row.append(solid * done, style="blue")
        row.append(light * (full - done), style="dim")
        row.append(" " * (width - full) + f"  {count:>{right}}")
        console.print(row)
