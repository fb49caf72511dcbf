"""The schema revisions this suiro knows: the one it writes, and those it can upgrade from.

Its own leaf so that ``db`` (which checks a database's revision on open) and ``migrate``
(which brings it to one) both read it without importing each other.
"""

#: The schema revision this suiro writes; ``migrations/versions`` holds the path to it.
HEAD_REVISION = "0009"
#: Every revision ``migrate`` can upgrade from (a database at any other one is newer than this suiro).
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009")
