"""The seed-model catalogue table, kept in step with the TG-43U1 data of ``dosimetry.sources``."""

from __future__ import annotations

from dosimetry.models import SeedModel
from dosimetry.sources import SEED_MODELS


def ensure_seed_catalogue(**_: object) -> None:
    """Create or refresh the preloaded catalogue entries (run after every migrate; idempotent)."""
    for model in SEED_MODELS.values():
        SeedModel.objects.update_or_create(code=model.code, defaults={
            "name": model.name,
            "manufacturer": model.manufacturer,
            "isotope": model.isotope,
            "half_life_days": model.half_life_days,
            "active_length_cm": model.active_length_cm,
            "dose_rate_constant_cgy_per_h_per_u": model.dose_rate_constant_cgy_per_h_per_u,
            "notes": model.notes,
            "data": model.to_dict(),
        })
