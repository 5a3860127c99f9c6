"""``manage.py tg43``: TG-43U1 dose rate and permanent-implant total dose at given points, printed as JSON."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from common.commands import JsonCommand
from dosimetry import cli
from dosimetry.sources import known_seed_codes


class Command(JsonCommand):
    help = (
        "Print a JSON list, one object per point in input order: point_cm, dose_rate_cgy_per_h (TG-43U1, "
        "superposed over all seeds) and total_dose_gy (permanent implant, to infinity: rate × τ / 100 with "
        "τ = T½/ln 2 from the seed model's half-life). Seeds come from --seeds (JSON) or --rtplan (DICOM). "
        "With --rtplan the strength is the plan's ReferenceAirKermaRate at its reference date (not decayed) "
        "and the seed axes are unknown, so every seed is assumed along patient z for --formalism line. "
        "Input errors: exit status 2 and one line on stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model",
            required=True,
            metavar="NAME",
            help=f"Seed model short code, case-insensitive: {', '.join(known_seed_codes())}.",
        )
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--rtplan",
            metavar="FILE",
            help="DICOM RT Plan (permanent seeds): positions and S_K from the plan; seed axes assumed along "
            "patient z (the plan does not encode orientation).",
        )
        source.add_argument(
            "--seeds",
            metavar="FILE",
            help='JSON [{"position_cm": [x, y, z], "axis": [ux, uy, uz], "air_kerma_strength_u": s}, ...]; '
            "cm and U (> 0); axis optional (default along z).",
        )
        parser.add_argument("--points", required=True, metavar="FILE", help="JSON [[x, y, z], ...] in cm.")
        parser.add_argument(
            "--formalism",
            choices=cli.FORMALISMS,
            default="line",
            help="line: 2-D line source (G_L, g_L, F(r,θ)), default; point: 1-D, orientation ignored "
            "(G_L(r,90°), g_L, φ_an).",
        )
        parser.add_argument(
            "--method",
            choices=cli.TG43_METHODS,
            default="exact",
            help="exact: the float64 TG-43 formulas, default (the reference point gives S_K·Λ exactly); table: "
            "the engine's float32 look-up table of r²·Ḋ/S_K (10-15× faster to compute on 20 seeds × 100 000 points; "
            "within 0.2 %% of exact at ≥ 0.05 cm from a seed's active segment, within a few %% inside the capsule).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            text = cli.run_tg43_json(
                options["model"],
                options["points"],
                seeds_file=options["seeds"],
                rtplan_file=options["rtplan"],
                formalism=options["formalism"],
                method=options["method"],
            )
        except cli.CliInputError as exc:
            raise self.input_error(exc) from exc
        self.stdout.write(text, ending="")  # no copy of a large text to append the newline
        self.stdout.write("\n", ending="")
