"""``manage.py dvh``: DVH summary of RTSTRUCT structures on an RTDOSE grid, printed as JSON."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.core.management.base import CommandParser

from common.commands import JsonCommand
from dosimetry import cli
from dosimetry.dvh import EndCaps
from dosimetry.services import protocol_settings


class Command(JsonCommand):
    help = (
        "Print a JSON list with one object per structure: "
        + ", ".join(cli.DVH_KEYS)
        + ". Doses in Gy, volume in cm³, V100/V150/V200 in % of the structure volume (receiving ≥ 100/150/200 % "
        "of --prescription-gy), hi = (V100 − V150)/V100 (null when V100 = 0). Without --structure: every ROI "
        "with closed planar contours, in file order. Both files must share one FrameOfReferenceUID. Input "
        "errors: exit status 2 and one line on stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rtdose", required=True, metavar="FILE", help="DICOM RT Dose file (DoseUnits GY).")
        parser.add_argument("--rtstruct", required=True, metavar="FILE", help="DICOM RT Structure Set file.")
        parser.add_argument(
            "--structure",
            action="append",
            default=[],
            metavar="NAME",
            help="ROI name (case-insensitive); repeat for several, output in the given order. Default: all.",
        )
        parser.add_argument(
            "--prescription-gy", required=True, type=float, metavar="D", help="Prescription dose D_Rx in Gy (> 0)."
        )
        parser.add_argument(
            "--clip-to-grid",
            action="store_true",
            help="Clip structures that extend outside the dose grid to it (default: refuse them, since the "
            "part outside has no dose and would distort the relative metrics).",
        )
        parser.add_argument(
            "--end-caps",
            choices=[m.value for m in EndCaps],
            default=None,
            help="How much of a slab each structure's first and last contour planes count: 'half' (the planning "
            "systems' convention) or 'whole' (dicompyler-core's). Default: the protocol's dvh_end_caps (half).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sampling = protocol_settings().sampling_settings(require_inside_grid=not options["clip_to_grid"])
        if options.get("end_caps"):
            sampling = replace(sampling, end_caps=EndCaps(options["end_caps"]))
        settings = cli.DvhCommandSettings(sampling=sampling)
        try:
            result = cli.run_dvh(
                options["rtdose"],
                options["rtstruct"],
                options["prescription_gy"],
                structure_names=options["structure"] or (),
                settings=settings,
            )
        except cli.CliInputError as exc:
            raise self.input_error(exc) from exc
        self.stdout.write(cli.to_json(result))
