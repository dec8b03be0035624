"""The ``sessionctl`` command's entry point: the shared mode's sudo hop, then the CLI.

Kept apart from ``sessionctl.cli`` so that a caller in the shared mode is handed to sudo before
Typer is imported, and the service account's process is hardened before anything else runs.
``sessionctl --version`` and ``sessionctl --help`` are answered without Typer at all
(``front.py``).
"""

import sys


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # an ASCII or Latin-1 terminal (PYTHONIOENCODING,
        if stream is not None and stream.encoding.lower() not in ("utf-8", "utf8"):  # LANG=C)
            stream.reconfigure(errors="backslashreplace")  # shows what it cannot encode as \\u…
    from sessionctl.errors import OutputLost, SessionctlError

    try:
        if sys.stdout is None:  # started with stdout closed (>&-): refused before anything
            raise OutputLost("standard output is closed; nothing was changed",
                             hint="send it to /dev/null instead (> /dev/null)")
        from sessionctl import configfile

        site = configfile.read_config(configfile.SITE_FILE, "site")  # kept for the settings
        if site.values.get("identity") == "sudo":  # the shared mode: its rules only then
            from sessionctl import shared

            shared.launch(sys.argv, site=site)
    except SessionctlError as exc:
        import os

        from sessionctl.front import COMPLETE_VAR
        from sessionctl.output import terminal

        if os.environ.get(COMPLETE_VAR) and os.environ.get("SESSIONCTL_DEBUG") != "1":
            sys.exit(0)  # a shell asking for completions gets nothing, not an error at each TAB
        terminal.error(exc.message, exc.hint)
        sys.exit(exc.code)
    from sessionctl import front

    code = front.answer(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from sessionctl.cli import main as cli

    cli()
