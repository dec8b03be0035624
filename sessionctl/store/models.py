"""Peewee models over the schema that ``migrations.py`` creates.

The migrations own the DDL (constraints, partial indexes); the models only map rows.
Instants are naive UTC datetimes in the database; the domain converts at the edge.
"""

from __future__ import annotations

from sessionctl.store._peewee import peewee as pw

class BaseModel(pw.Model):
    """Models are bound to a store's database when it is opened (``Store.bind``)."""

    class Meta:
        legacy_table_names = False


class User(BaseModel):
    name = pw.CharField(unique=True)
    role = pw.CharField()
    display = pw.TextField(null=True)
    email = pw.TextField(null=True)
    tz = pw.TextField(null=True)
    created_at = pw.DateTimeField()

    class Meta:
        table_name = "users"


class Course(BaseModel):
    code = pw.CharField(unique=True)
    title = pw.TextField()
    educator = pw.ForeignKeyField(User, column_name="educator_id", backref="courses")
    created_at = pw.DateTimeField()
    # policies (docs/reference/policies.md, domain/policy.py): minutes, or None when off
    min_notice = pw.IntegerField(null=True)
    cancel_notice = pw.IntegerField(null=True)
    horizon = pw.IntegerField(null=True)
    max_active = pw.IntegerField(null=True)
    auto_approve = pw.IntegerField(default=0)
    # meeting rooms and buffers (docs/reference/meeting-rooms-and-hooks.md)
    link_template = pw.TextField(null=True)
    buffer = pw.IntegerField(null=True)  # minutes kept free around the educator's slots

    class Meta:
        table_name = "courses"


class Enrollment(BaseModel):
    course = pw.ForeignKeyField(Course, column_name="course_id", on_delete="CASCADE")
    student = pw.ForeignKeyField(User, column_name="student_id")
    created_at = pw.DateTimeField()

    class Meta:
        table_name = "enrollments"


class Slot(BaseModel):
    course = pw.ForeignKeyField(Course, column_name="course_id")
    educator = pw.ForeignKeyField(User, column_name="educator_id")
    starts_at = pw.DateTimeField()
    ends_at = pw.DateTimeField()
    capacity = pw.IntegerField(default=1)
    booked = pw.IntegerField(default=0)
    cancelled_at = pw.DateTimeField(null=True)
    notes = pw.TextField(null=True)
    link = pw.TextField(null=True)
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()
    batch = pw.CharField(null=True)  # shared by the slots one ``slot add`` made together

    class Meta:
        table_name = "slots"


class Request(BaseModel):
    slot = pw.ForeignKeyField(Slot, column_name="slot_id")
    student = pw.ForeignKeyField(User, column_name="student_id")
    status = pw.CharField()
    message = pw.TextField(null=True)
    reason = pw.TextField(null=True)
    link = pw.TextField(null=True)
    notes = pw.TextField(null=True)
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()
    waitlist = pw.IntegerField(default=0)  # 1: the student opted in to wait for a seat
    replaces = pw.ForeignKeyField("self", column_name="replaces_id", null=True, backref="+")
    replaced_by = pw.ForeignKeyField("self", column_name="replaced_by_id", null=True, backref="+")
    attendance = pw.CharField(null=True)  # a completed session: 'attended', 'no-show' or unknown
    rating = pw.IntegerField(null=True)  # the student's stars, 1 to 5
    rating_comment = pw.TextField(null=True)
    rated_at = pw.DateTimeField(null=True)
    # the slot's times, copied by the schema's triggers (migration 6): what sweep and remind
    # look up by, through partial indexes of the live requests; never written from here
    starts_at = pw.DateTimeField(null=True)
    ends_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "requests"


class History(BaseModel):
    request = pw.ForeignKeyField(Request, column_name="request_id")
    at = pw.DateTimeField()
    actor = pw.ForeignKeyField(User, column_name="actor_id", null=True)  # None: the system
    from_status = pw.CharField(null=True)
    to_status = pw.CharField()
    note = pw.TextField(null=True)

    class Meta:
        table_name = "history"


class Notification(BaseModel):
    user = pw.ForeignKeyField(User, column_name="user_id")
    kind = pw.CharField()
    request = pw.ForeignKeyField(Request, column_name="request_id", null=True)
    slot = pw.ForeignKeyField(Slot, column_name="slot_id", null=True)
    text = pw.TextField()
    created_at = pw.DateTimeField()
    read_at = pw.DateTimeField(null=True)
    mail_state = pw.CharField(default="queued")
    sent_at = pw.DateTimeField(null=True)
    mail_data = pw.TextField(null=True)  # JSON: the thread and invitation, frozen when queued

    class Meta:
        table_name = "notifications"


class StoreInfo(BaseModel):
    """One row: the store's random id (calendar UIDs, Message-IDs)."""

    uuid = pw.CharField()
    identity = pw.CharField(default="login")  # or "database" (docs/reference/database-mode.md)

    class Meta:
        table_name = "store_info"


class Lease(BaseModel):
    """A named, expiring claim on a job (``mail``: one ``notify send`` at a time)."""

    name = pw.CharField(primary_key=True)
    owner = pw.CharField()
    expires_at = pw.DateTimeField()

    class Meta:
        table_name = "leases"


class BusySource(BaseModel):
    """One of a user's busy calendars (``user set --busy``): a URL or, outside the shared
    mode, a file or vdir; ``position`` keeps the order they were given in."""

    user = pw.ForeignKeyField(User, column_name="user_id")
    position = pw.IntegerField()
    source = pw.TextField()

    class Meta:
        table_name = "busy_sources"


class FeedToken(BaseModel):
    """The secret name of a user's feed (``feed url``): a table of its own, since a user's row
    is seen by many and the token is theirs and the admins' alone."""

    user = pw.ForeignKeyField(User, column_name="user_id", primary_key=True)
    token = pw.TextField(unique=True)

    class Meta:
        table_name = "feed_tokens"


class Hook(BaseModel):
    """An event hook ``hooks run`` has found (``name``: the event), and since when."""

    name = pw.CharField(primary_key=True)
    since = pw.DateTimeField()

    class Meta:
        table_name = "hooks"


class Event(BaseModel):
    """The hooks' outbox: one event, its JSON frozen when it happened, and its delivery."""

    kind = pw.CharField()
    at = pw.DateTimeField()
    request = pw.ForeignKeyField(Request, column_name="request_id", null=True)
    booking = pw.IntegerField()  # the first request of the booking's chain
    payload = pw.TextField()
    state = pw.CharField(default="queued")
    attempts = pw.IntegerField(default=0)
    next_at = pw.DateTimeField(null=True)
    error = pw.TextField(null=True)
    delivered_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "events"


MODELS = [User, Course, Enrollment, Slot, Request, History, Notification, StoreInfo, Lease,
          BusySource, FeedToken, Hook, Event]
