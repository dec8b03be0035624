"""The vocabulary of states: what a request or a slot can be, which moves between them are
allowed, and the named sets that the rules, the queries, the schema's partial indexes and the
output all speak of. A leaf: it imports nothing, and everything imports it instead of writing
the words itself (the store too, which never imports the domain).

Requests (``docs/reference/lifecycle.md#states``)::

    (send) ──► pending ──► approved ──► completed
       │          │  ▲         │
       │          ▼  │         └──► cancelled
       └──────► waiting ──► approved | cancelled | rejected
    pending ──► rejected | cancelled        (rejected, cancelled, completed are final)

A slot's status is derived, never stored: ``cancelled`` once cancelled, else ``booked`` when
every seat is taken, else ``available``.
"""

from __future__ import annotations

# -- a request's states ---------------------------------------------------------------------------

PENDING = "pending"
APPROVED = "approved"
WAITING = "waiting"
REJECTED = "rejected"
CANCELLED = "cancelled"
COMPLETED = "completed"

REQUEST_STATES = (PENDING, APPROVED, WAITING, REJECTED, CANCELLED, COMPLETED)

# The state machine: each live state and where it may go. Every change of state goes through
# ``domain/transitions.py``'s ``transition``, which refuses any other move (exit 5).
NEXT = {
    PENDING: (APPROVED, REJECTED, CANCELLED, WAITING),
    APPROVED: (COMPLETED, CANCELLED),
    WAITING: (PENDING, APPROVED, CANCELLED, REJECTED),
}

# -- named sets of request states -----------------------------------------------------------------

# At most one of these per slot and student (a unique partial index in the schema), and what
# counts against a course's ``max_active`` policy.
ACTIVE = (PENDING, APPROVED, WAITING)
# Waiting for a decision: ``sweep`` expires them once their slot starts, unenrolling cancels them.
UNDECIDED = (PENDING, WAITING)
# Sessions that happen or happened: they show their meeting link and count as booked seats in a
# course report. (A request that holds a seat right now is ``APPROVED`` alone.)
SESSIONS = (APPROVED, COMPLETED)
# What ``request export --ics`` writes: sessions, and cancelled ones as cancelled events.
EXPORTED = (APPROVED, COMPLETED, CANCELLED)
# A request that may still change its link or notes (``request update``).
UPDATABLE = (PENDING, APPROVED)

# -- after a session ------------------------------------------------------------------------------

ATTENDED = "attended"
NO_SHOW = "no-show"
ATTENDANCE = (ATTENDED, NO_SHOW)

# -- the event of a change, for the hooks (domain/events.py; the database mode's server names
# the system's changes by the same tables: store/rls_behalf.py) -------------------------------

# a notification kind that names its event, whatever the change of state
# the events hooks receive (docs/reference/meeting-rooms-and-hooks.md#event-hooks)
EVENTS = ("requested", "approved", "rejected", "cancelled", "moved", "changed", "completed",
          "waitlisted", "promoted", "slot-cancelled", "reminder")
EVENT_OF_KIND = {"promoted": "promoted", "slot_cancelled": "slot-cancelled", "moved": "moved",
                 "move": "requested", "changed": "changed", "attendance": "changed",
                 "rated": "changed", "reminder": "reminder"}
EVENT_OF_STATE = {APPROVED: "approved", REJECTED: "rejected", CANCELLED: "cancelled",
                  COMPLETED: "completed", WAITING: "waitlisted", PENDING: "requested"}
# the kinds a system change is told as besides its new state (transitions.transition's
# notify_kind with system=True: a seat offered, a request expired), with that new state
SYSTEM_TOLD_AS = (("promoted", PENDING), ("promoted", APPROVED), ("expired", REJECTED))

# -- a slot's (derived) status --------------------------------------------------------------------

AVAILABLE = "available"
BOOKED = "booked"  # a slot whose every seat is taken (not a request state)
SLOT_STATES = (AVAILABLE, BOOKED, CANCELLED)
ALL = "all"  # a list's --status that shows every state
