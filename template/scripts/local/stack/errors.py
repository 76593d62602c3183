"""The one error the runner prints without a traceback."""


class StackError(Exception):
    """A problem the user can fix; its message names the problem and the fix."""
