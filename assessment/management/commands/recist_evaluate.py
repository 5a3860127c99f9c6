"""``manage.py recist_evaluate FILE``: RECIST 1.1 for one patient from JSON, without touching the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from assessment.recist_contract import ContractError, evaluate_contract
from common.commands import JsonCommand


class Command(JsonCommand):
    help = (
        "Evaluate RECIST 1.1 for one patient described in a JSON file ('-' reads stdin) and print the time-point "
        "categories with their reasons and the best overall response (unconfirmed and confirmed) as JSON. "
        "Input errors: exit status 2 and one line on stderr naming the problem. See README 'recist_evaluate'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="JSON input file, or '-' for stdin.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self.input_error(ContractError(f"{name}: file not found")) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise self.input_error(ContractError(f"{name}: cannot be read ({type(exc).__name__})")) from None
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            where = "stdin" if name == "-" else name
            raise self.input_error(
                ContractError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
            ) from None
        try:
            result = evaluate_contract(payload)
        except ContractError as exc:
            raise self.input_error(exc) from None
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, allow_nan=False))
