"""Reading an educator's busy calendars (``docs/reference/busy-times.md``): what a source may be
and how it is shown (``sources.py``), fetching one over HTTP(S) without becoming anyone's
deputy (``fetch.py``), and its events expanded and kept compiled (``index.py``).

Leaves: they import nothing of the domain or the store. The rules (whose sources, when they
are read, what a refusal says) are ``sessionctl/domain/busy.py``'s.
"""
