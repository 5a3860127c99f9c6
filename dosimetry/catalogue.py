"""The seed-model catalogue table, kept in step with the TG-43U1 data of ``dosimetry.sources``."""

from __future__ import annotations

from typing import Any

from dosimetry.sources import SEED_MODELS, SeedModelData


def _tuplify(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tuplify(v) for v in value)
    return value


def seed_model_from_dict(data: dict[str, Any]) -> SeedModelData:
    return SeedModelData(**{key: _tuplify(value) for key, value in data.items()})


def ensure_seed_catalogue(**_: object) -> None:
    """Create or refresh the preloaded catalogue entries (run after every migrate; idempotent)."""
    from dosimetry.models import SeedModel

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
