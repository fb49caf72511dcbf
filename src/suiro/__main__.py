"""``python -m suiro``: the same as the ``suiro`` command."""

from suiro.cli.app import main

main()
