"""``selectors.records_of`` (plain values, two queries) chooses the same plan of record and target structure per
implant and phase as the rules read on model rows (``plan_of_record``, ``target_of``), however the plans and
structures of an implant are mixed; and Table 4 reads the pairs a column at a time with the same numbers."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db.models import Prefetch
from django.utils import timezone

from assessment import cohort_tables
from assessment.stats import StatsInputError, mean_sd, paired_compare
from dosimetry import selectors
from dosimetry.models import DosePlan, ImplantProcedure, StructureDose

pytestmark = pytest.mark.django_db

# per phase: (source, marked as plan of record, minutes after the implant it was created)
PLAN_SETS = [
    (),
    (("manual", False, 5),),
    (("tg43", False, 5),),
    (("tg43", True, 5),),
    (("dicom", False, 5), ("manual", False, 9)),
    (("dicom", False, 9), ("manual", False, 5), ("tg43", False, 1)),
    (("dicom", False, 5), ("manual", True, 9)),
    (("manual", False, 5), ("tg43", True, 1)),
    (("dicom", False, 5), ("manual", False, 5), ("tg43", False, 5)),  # same creation time: the pk decides
]
# per plan: (role, name) of its structures
STRUCTURE_SETS = [
    (("GTV", "GTV"),),
    (("PTV", "PTV"),),
    (("PTV", "b"), ("PTV", "a"), ("skin", "Skin")),
    (("GTV", "z"), ("GTV", "a"), ("PTV", "PTV")),
    (("skin", "Skin"),),
    (),
]


def _implants(procedure, n):
    """``procedure`` and ``n - 1`` copies of it (the plans are what differ)."""
    out = [procedure]
    for _ in range(n - 1):
        copy = ImplantProcedure.objects.get(pk=procedure.pk)
        copy.pk = copy.id = None
        copy.save()
        out.append(copy)
    return out


def _structure(plan, role, name, rng):
    return StructureDose.objects.create(
        plan=plan, role=role, name=name, volume_cm3=rng.choice([5.0, 6.5]), d90_gy=rng.choice([None, 100.0, 131.5]),
        d100_gy=80.0, dmean_gy=150.0, v100_pct=rng.choice([None, 92.0]), v150_pct=60.0, v200_pct=30.0)


@pytest.fixture
def mixed(procedure):
    rng = random.Random(7)
    combos = list(itertools.product(range(len(PLAN_SETS)), range(len(PLAN_SETS))))
    implants = _implants(procedure, len(combos))
    base = timezone.now()
    for implant, (pre_set, post_set) in zip(implants, combos, strict=True):
        for kind, plans in (("pre", PLAN_SETS[pre_set]), ("post", PLAN_SETS[post_set])):
            for source, marked, minutes in plans:
                plan = DosePlan.objects.create(procedure=implant, kind=kind, source=source,
                                               prescription_gy=Decimal("120"), seed_count=rng.choice([None, 8, 9]))
                DosePlan.objects.filter(pk=plan.pk).update(is_plan_of_record=marked,
                                                           created_at=base + dt.timedelta(minutes=minutes))
                for role, name in rng.choice(STRUCTURE_SETS):
                    _structure(plan, role, name, rng)
    return implants


def _values(obj, names):
    return None if obj is None else tuple(getattr(obj, n) for n in names)


PLAN_FIELDS = ("pk", "kind", "source", "is_plan_of_record", "seed_count")
TARGET_FIELDS = ("role", *selectors.PAIR_METRICS)


def test_records_of_choose_as_the_rules_on_model_rows(mixed, django_assert_num_queries):
    procedures = ImplantProcedure.objects.filter(pk__in=[p.pk for p in mixed])
    with django_assert_num_queries(2):
        records = selectors.records_of(procedures)
    # the rules read the plans by kind, source, pk and a plan's structures by role, name, pk (two PTVs: "a")
    rows = procedures.prefetch_related(
        Prefetch("plans", DosePlan.objects.order_by("kind", "source", "pk")),
        Prefetch("plans__structures", StructureDose.objects.order_by("role", "name", "pk")))
    expected = {}
    for procedure in rows:
        plans = list(procedure.plans.all())
        if not plans:
            continue
        expected[procedure.pk] = {}
        for kind in ("pre", "post"):
            plan = selectors.plan_of_record(plans, kind)
            target = selectors.target_of(plan)
            expected[procedure.pk][kind] = (_values(plan, PLAN_FIELDS), _values(target, TARGET_FIELDS))
    got = {pk: {kind: (_values(plan, PLAN_FIELDS), _values(target, TARGET_FIELDS))
                for kind, (plan, target) in phases.items()} for pk, phases in records.items()}
    assert got == expected
    assert list(records) == sorted(records)  # by implant, as before
    chosen = [phases[k][0] for phases in records.values() for k in ("pre", "post") if phases[k][0] is not None]
    assert {p.source for p in chosen} == {"dicom", "manual", "tg43"}  # the cases above reach every rule
    assert all(p.created_at is not None for p in chosen)


def test_target_of_a_plan_picks_the_structure_table_4_picks(mixed):
    """The procedure page (target_of on a plan's default structures) and Table 4 (records_of) name the same target
    when a plan has two GTVs or two PTVs created out of name order: the first by name, then by creation."""
    procedures = ImplantProcedure.objects.filter(pk__in=[p.pk for p in mixed])
    records = selectors.records_of(procedures)
    compared = 0
    for procedure in procedures.prefetch_related("plans__structures"):
        plans = list(procedure.plans.all())
        for kind in ("pre", "post"):
            plan = selectors.plan_of_record(plans, kind)
            if plan is None:
                continue
            target = selectors.target_of(plan)
            chosen = records[procedure.pk][kind][1]
            if chosen is None:
                assert target is None
            else:
                assert (target.role, target.d90_gy, target.volume_cm3) == (chosen.role, chosen.d90_gy,
                                                                           chosen.volume_cm3)
                assert target.name == min(s.name for s in plan.structures.all() if s.role == target.role)
                compared += sum(s.role == target.role for s in plan.structures.all()) > 1
    assert compared  # the fixture reaches plans with two structures of the target's role


def test_pre_post_pairs_of_records_equal_those_of_model_rows(mixed):
    """Table 4's pairs from the plain values of records_of (metrics zipped from TargetValues) and from the model
    rows (metrics read by name) are the same numbers."""
    assert selectors.TargetValues._fields[2:] == selectors.PAIR_METRICS  # the zip relies on this order
    procedures = ImplantProcedure.objects.filter(pk__in=[p.pk for p in mixed])
    records = selectors.records_of(procedures)
    no_record = {"pre": (None, None), "post": (None, None)}
    from_values = [pair for p in procedures.order_by("pk") if (pair := selectors.pre_post_pair(
        p.pk, p.prescription_gy, p.seeds_implanted, *records.get(p.pk, no_record).values())) is not None]
    from_models = selectors.pre_post_pairs(procedures.order_by("pk").prefetch_related(
        Prefetch("plans", DosePlan.objects.order_by("kind", "source", "pk")),
        Prefetch("plans__structures", StructureDose.objects.order_by("role", "name", "pk"))))
    assert from_values and from_values == from_models
    assert all(set(pair.pre) == {*selectors.PAIR_METRICS, "seed_count"} for pair in from_values)


def test_records_of_nothing(db):
    assert selectors.records_of(ImplantProcedure.objects.none()) == {}


# --- Table 4 read a column at a time -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    prescription_gy: float | None
    pre: dict
    post: dict


def reference_summary(pairs):
    """pre_post_summary as it read the pairs one at a time (main before the column reading)."""
    rows = []
    for key, label in cohort_tables.TABLE4:
        values = [(float(pre), float(post)) for p in pairs
                  if (pre := p.pre.get(key)) is not None and (post := p.post.get(key)) is not None]
        if len(values) < 3:
            rows.append({"key": key, "label": label, "n": len(values), "pre": None, "post": None, "test": None})
            continue
        pre_v, post_v = [a for a, _ in values], [b for _, b in values]
        try:
            result, note = paired_compare(pre_v, post_v), ""
        except StatsInputError as exc:
            result, note = None, f"no paired test: {exc}"
        rows.append({"key": key, "label": label, "n": len(values), "pre": mean_sd(pre_v), "post": mean_sd(post_v),
                     "test": result, "note": note})
    below = [p for p in pairs if (d90 := p.post.get("d90_gy")) is not None and p.prescription_gy is not None
             and float(d90) < p.prescription_gy]
    return {"n_pairs": len(pairs), "rows": rows, "post_d90_below_rx": len(below)}


KEYS = [k for k, _ in cohort_tables.TABLE4]


def _pairs(rng, n, missing=0.1, seeds_equal=False):
    def phase():
        values = {k: (None if rng.random() < missing else rng.choice([rng.uniform(50, 200), rng.randint(1, 30)]))
                  for k in KEYS}
        values["seed_count"] = None if rng.random() < missing else rng.randint(5, 12)
        return values
    out = []
    for _ in range(n):
        pre, post = phase(), phase()
        if seeds_equal:
            post["seed_count"] = pre["seed_count"]
        out.append(Pair(rng.choice([None, 120.0, 145.0]), pre, post))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_table4_columns_give_the_numbers_of_the_pair_at_a_time_reading(seed):
    rng = random.Random(seed)
    for pairs in (_pairs(rng, 40), _pairs(rng, 40, missing=0.0), _pairs(rng, 5, missing=0.5), _pairs(rng, 2),
                  _pairs(rng, 30, seeds_equal=True), []):
        assert cohort_tables.pre_post_summary(pairs) == reference_summary(pairs)


def test_table4_pairs_without_every_key_or_with_decimals():
    rng = random.Random(1)
    pairs = _pairs(rng, 20, missing=0.0)
    short = [Pair(p.prescription_gy, {k: v for k, v in p.pre.items() if k != "hi"}, p.post) for p in pairs]
    assert cohort_tables.pre_post_summary(short) == reference_summary(short)
    assert cohort_tables.pre_post_summary(short)["rows"][KEYS.index("hi")]["n"] == 0
    decimals = [Pair(p.prescription_gy, {k: Decimal(str(v)) for k, v in p.pre.items()}, p.post) for p in pairs]
    assert cohort_tables.pre_post_summary(decimals) == reference_summary(decimals)
    with_nan = [Pair(p.prescription_gy, {**p.pre, "d90_gy": math.nan}, p.post) for p in pairs]
    with pytest.raises(StatsInputError) as got:
        cohort_tables.pre_post_summary(with_nan)
    with pytest.raises(StatsInputError) as expected:
        reference_summary(with_nan)
    assert str(got.value) == str(expected.value)
    assert cohort_tables.table4_of(with_nan, 20).notes[0].startswith("Table 4 not computable")
