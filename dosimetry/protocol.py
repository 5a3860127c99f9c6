"""The dosimetry protocol section parsed into one settings object (pure core: no Django).

* ``prescription_min_gy`` / ``prescription_max_gy``: the protocol's prescription range; a prescription outside
  it is a warning on the implant, not a refusal (default 110–140 Gy);
* ``tg43_flag_pct``: a TG-43 recomputation whose D90 or V100 differs from the planning system's by more than
  this (in %, strictly) is flagged (default 5);
* ``dvh_supersampling``: in-plane sub-points per voxel edge when contours are rasterised, validated by the DVH
  core's :class:`~dosimetry.dvh.SamplingSettings` (whole number 1–32, default 4);
* ``dvh_end_caps``: how much of a slab a structure's first and last contour planes count, ``"half"`` (default,
  the planning systems' convention) or ``"whole"`` (dicompyler-core's), see :class:`~dosimetry.dvh.EndCaps`.

:meth:`DosimetrySettings.sampling_settings` is the DVH sampling these imply; services and commands build it there.

Missing keys keep their default; an unknown key or a bad value raises an :class:`InputError` naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from common.errors import InputError
from dosimetry.dvh import DVHError, EndCaps, SamplingSettings

__all__ = ["DosimetrySettings"]


def _refuse(key: str, value: object, allowed: str) -> InputError:
    return InputError(f"{key}: got {value!r}; allowed: {allowed}", field=key, value=value, allowed=allowed)


@dataclass(frozen=True)
class DosimetrySettings:
    """Protocol section ``dosimetry`` (defaults in config/protocol.py)."""

    prescription_min_gy: float = 110
    prescription_max_gy: float = 140
    tg43_flag_pct: float = 5
    dvh_supersampling: int = 4
    dvh_end_caps: str = EndCaps.HALF.value

    def __post_init__(self) -> None:
        for name in ("prescription_min_gy", "prescription_max_gy", "tg43_flag_pct"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise _refuse(name, value, "a finite number > 0")
        if self.prescription_min_gy > self.prescription_max_gy:
            raise _refuse("prescription_min_gy", self.prescription_min_gy,
                          f"at most prescription_max_gy ({self.prescription_max_gy:g})")
        try:
            SamplingSettings(supersampling=self.dvh_supersampling)
        except DVHError:
            raise _refuse("dvh_supersampling", self.dvh_supersampling, "a whole number from 1 to 32") from None
        if not isinstance(self.dvh_end_caps, str) or self.dvh_end_caps not in {m.value for m in EndCaps}:
            allowed = " or ".join(repr(m.value) for m in EndCaps)
            raise _refuse("dvh_end_caps", self.dvh_end_caps, f"{allowed} (first and last contour planes' slab)")

    def sampling_settings(self, *, require_inside_grid: bool = True) -> SamplingSettings:
        """The DVH sampling the protocol implies (other fields: the DVH core's defaults)."""
        return SamplingSettings(supersampling=self.dvh_supersampling, end_caps=EndCaps(self.dvh_end_caps),
                                require_inside_grid=require_inside_grid)

    @classmethod
    def from_protocol(cls, values: Mapping[str, Any]) -> DosimetrySettings:
        known = tuple(f.name for f in fields(cls))
        for key in values:
            if key not in known:
                raise _refuse(str(key), values[key], f"keys {', '.join(known)}")
        return cls(**dict(values))
