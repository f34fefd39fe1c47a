"""The one exception type the command line turns into a one-line message (no traceback)."""


class ColorganError(Exception):
    """A problem the user can fix: bad argument, bad file, missing weights. Say what and why."""


class DiskFull(ColorganError):
    """A write failed for lack of room (full disk, quota, file-size limit); nothing was left
    under the file's name. The web server answers it with 507 Insufficient Storage."""
