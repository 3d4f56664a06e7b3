#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    # manage.py is the local tool: debug settings unless DEBUG says otherwise.
    # The web entry points (wsgi/asgi) keep DEBUG off, and refuse to start
    # without a SECRET_KEY; production sets DEBUG=false for commands too.
    os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
