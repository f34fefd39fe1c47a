"""The one exception type the command line turns into a one-line message (no traceback)."""


class ColorganError(Exception):
    """A problem the user can fix: bad argument, bad file, missing weights. Say what and why."""
