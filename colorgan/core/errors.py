"""The one exception type the command line turns into a one-line message (no traceback)."""


class ColorganError(Exception):
    """A problem the user can fix: bad argument, bad file, missing weights. Say what and why."""


class DiskFull(ColorganError):
    """A write failed for lack of room (full disk, quota, file-size limit); nothing was left
    under the file's name. The web server answers it with 507 Insufficient Storage."""


def shown(value, limit: int = 60) -> str:
    """repr(value) cut to about `limit` characters: messages name a bad value, but a 10 MB
    one must not become a 10 MB error line."""
    text = repr(value) if len(str(value)) <= 4 * limit else repr(str(value)[: 2 * limit])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str, limit: int = 300) -> str:
    """text on one line (its whitespace runs made single spaces), cut to `limit` characters:
    for messages that quote what a library or a file said."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
