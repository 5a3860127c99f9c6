"""Tests for dosimetry.sources: the seed-model registry and its consensus tables."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import pytest

from dosimetry.sources import (
    SEED_MODELS,
    SeedDataError,
    SeedModelData,
    UnknownSeedModelError,
    get_seed_model,
    known_seed_codes,
    seed_model_from_dict,
)


@pytest.mark.parametrize("code", ["6711", " 6711 ", "study-4.5ti", "STUDY-4.5TI"])
def test_lookup_is_case_insensitive(code: str) -> None:
    assert get_seed_model(code).code.upper() == code.strip().upper()


@pytest.mark.parametrize("code", ["2301", "AgX100", "", "67111"])
def test_unknown_code_lists_known_codes(code: str) -> None:
    with pytest.raises(UnknownSeedModelError, match=r"unknown seed model code .*known codes: 6711, STUDY-4\.5TI"):
        get_seed_model(code)


def test_non_string_code() -> None:
    with pytest.raises(UnknownSeedModelError, match="must be a string, got 6711"):
        get_seed_model(6711)  # type: ignore[arg-type]


def test_6711_consensus_values() -> None:
    m = get_seed_model("6711")
    assert m.dose_rate_constant_cgy_per_h_per_u == 0.965  # not the 1995 value 0.98
    assert m.active_length_cm == 0.3
    assert m.half_life_days == 59.40
    assert dict(zip(m.radial_r_cm, m.radial_gl, strict=True))[2.0] == 0.814
    assert m.radial_gl[-1] == 0.0803
    assert m.aniso_F[0][0] == 0.333 and m.aniso_F[-1] == (1.0,) * 6
    assert m.aniso_F[m.aniso_theta_deg.index(20.0)][m.aniso_r_cm.index(1.0)] == 0.705
    assert dict(zip(m.phi_an_r_cm, m.phi_an, strict=True)) == {
        0.5: 0.973, 1.0: 0.944, 2.0: 0.941, 3.0: 0.942, 4.0: 0.943, 5.0: 0.944
    }


def test_study_seed_uses_6711_tables_with_its_own_half_life() -> None:
    m, s = get_seed_model("6711"), get_seed_model("STUDY-4.5TI")
    for name in ("active_length_cm", "dose_rate_constant_cgy_per_h_per_u", "radial_r_cm", "radial_gl",
                 "aniso_r_cm", "aniso_theta_deg", "aniso_F", "phi_an_r_cm", "phi_an"):
        assert getattr(s, name) == getattr(m, name), name
    assert s.half_life_days == 59.6
    assert "6711" in s.notes and "59.40" in s.notes
    assert "UNCONFIRMED" in s.confirmation


def test_registry_keys_and_codes() -> None:
    assert set(SEED_MODELS) == {"6711", "STUDY-4.5TI"}
    assert known_seed_codes() == ("6711", "STUDY-4.5TI")


def test_to_dict_is_json_and_round_trips() -> None:
    m = get_seed_model("6711")
    data = json.loads(json.dumps(m.to_dict()))
    assert data["aniso_F"][0] == [0.333, 0.370, 0.442, 0.488, 0.520, 0.550]
    rebuilt = SeedModelData(
        **{k: (tuple(tuple(r) for r in v) if k == "aniso_F" else tuple(v) if isinstance(v, list) else v)
           for k, v in data.items()}
    )
    assert rebuilt == m


@pytest.mark.parametrize("code", ["6711", "STUDY-4.5TI"])
def test_seed_model_from_dict_inverts_to_dict(code: str) -> None:
    """The catalogue table stores ``to_dict()`` as JSON; reading it back gives the same dataset."""
    m = get_seed_model(code)
    assert seed_model_from_dict(json.loads(json.dumps(m.to_dict()))) == m


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"radial_gl": None}, r"^seed '6711': 'radial_gl' is missing$"),
        ({"colour": "silver"}, r"^seed '6711': 'colour' is not a seed data field; known: code, name, "),
        ({"radial_gl": [1.0, 1.0]}, "radial_gl has 2 values for 16 radii"),
    ],
)
def test_seed_model_from_dict_names_the_bad_key(change: dict[str, object], pattern: str) -> None:
    data = get_seed_model("6711").to_dict()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(SeedDataError, match=pattern):
        seed_model_from_dict(data)


def test_seed_model_from_dict_refuses_what_is_not_a_dict() -> None:
    with pytest.raises(SeedDataError, match="seed data must be a dict of TG-43U1 fields, got list"):
        seed_model_from_dict([("code", "6711")])  # type: ignore[arg-type]


def test_the_catalogue_and_the_models_do_not_import_each_other() -> None:
    """dosimetry.catalogue fills the table of dosimetry.models; the models read their data with the pure
    ``seed_model_from_dict`` of this module, so the import goes one way only."""
    root = Path(__file__).resolve().parents[2]
    imported = {node.module for node in ast.walk(ast.parse((root / "dosimetry/models.py").read_text()))
                if isinstance(node, ast.ImportFrom)}
    assert "dosimetry.catalogue" not in imported
    assert "dosimetry.sources" in imported


def test_models_are_frozen_and_hashable() -> None:
    m = get_seed_model("6711")
    with pytest.raises(AttributeError):
        m.half_life_days = 60.0  # type: ignore[misc]
    assert hash(m) == hash(replace(m))


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"radial_r_cm": (0.1, 0.1) + get_seed_model("6711").radial_r_cm[2:]}, "radial_r_cm must be strictly increasing"),
        ({"radial_gl": (1.0, 1.0)}, "radial_gl has 2 values for 16 radii"),
        ({"aniso_F": get_seed_model("6711").aniso_F[:-1]}, "aniso_F must have 11 rows of 6 values"),
        ({"phi_an": (0.9, 0.9, 0.9, 0.9, 0.9, -0.1)}, "every phi_an value must be finite and > 0"),
        ({"half_life_days": 0.0}, "half_life_days must be a finite number > 0, got 0.0"),
        ({"aniso_theta_deg": (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 85.0)},
         "aniso_theta_deg must run from 0 to 90 deg"),
    ],
)
def test_malformed_tables_are_rejected(changes: dict[str, object], pattern: str) -> None:
    with pytest.raises(SeedDataError, match=pattern):
        replace(get_seed_model("6711"), **changes)
