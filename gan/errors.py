"""The one exception type users see.

Every check that a user can fix raises :class:`GanTuneError` with a message that names the
problem and the fix; the CLI prints it on one line and exits with status 2.
"""

from __future__ import annotations


class GanTuneError(Exception):
    """A problem the user can act on (bad input, bad option, missing file)."""
