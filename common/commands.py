"""The base class of SeedTrack's JSON management commands (``dvh``, ``tg43``, ``recist_evaluate``, ``cohort_report``).

:class:`JsonCommand` gives them their error contract: any bad input ends the
process with exit status 2 and exactly one line on stderr, no traceback — including argument errors, which
argparse would otherwise report as a usage block plus an error line.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

#: Exit status of every input error of the JSON commands (contract).
INPUT_ERROR_STATUS = 2


class JsonCommand(BaseCommand):
    """A command that prints JSON on stdout and reports bad input as one stderr line with exit status 2."""

    # Pure file-in / JSON-out commands: no system checks, so nothing else can reach stderr.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> NoReturn:
            text = " ".join(f"Error: {message}".split())
            if parser.called_from_command_line:
                # Same shape as Django's CommandError line, instead of argparse's usage block.
                sys.stderr.write(f"CommandError: {text}\n")
                sys.exit(INPUT_ERROR_STATUS)
            raise CommandError(text, returncode=INPUT_ERROR_STATUS)

        parser.error = one_line_error  # type: ignore[method-assign]
        return parser

    @staticmethod
    def input_error(exc: Exception) -> CommandError:
        """The CommandError (exit status 2) for a one-line input error."""
        return CommandError(" ".join(str(exc).split()), returncode=INPUT_ERROR_STATUS)
