"""Field choices of the registry. Codes are stored; labels are shown."""

from django.db import models


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"


class Histology(models.TextChoices):
    PAPILLARY = "papillary", "Papillary"
    FOLLICULAR = "follicular", "Follicular"
    ONCOCYTIC = "oncocytic", "Oncocytic (Hürthle cell)"
    POORLY_DIFFERENTIATED = "poorly_differentiated", "Poorly differentiated"
    OTHER = "other", "Other"


class SurgeryExtent(models.TextChoices):
    TOTAL = "total", "Total thyroidectomy"
    NEAR_TOTAL = "near_total", "Near-total thyroidectomy"
    LESS = "less", "Less than near-total"


class NeckDissection(models.TextChoices):
    NONE = "none", "None"
    UNILATERAL = "unilateral", "Unilateral"
    BILATERAL = "bilateral", "Bilateral"


class AtaRisk(models.TextChoices):
    LOW = "low", "Low"
    INTERMEDIATE = "intermediate", "Intermediate"
    HIGH = "high", "High"


class TCategory(models.TextChoices):
    TX = "TX", "TX"
    T0 = "T0", "T0"
    T1 = "T1", "T1"
    T1A = "T1a", "T1a (≤ 1 cm)"
    T1B = "T1b", "T1b (> 1–2 cm)"
    T2 = "T2", "T2 (> 2–4 cm)"
    T3 = "T3", "T3"
    T3A = "T3a", "T3a (> 4 cm, intrathyroidal)"
    T3B = "T3b", "T3b (gross ETE into strap muscles)"
    T4 = "T4", "T4"
    T4A = "T4a", "T4a"
    T4B = "T4b", "T4b"


class NCategory(models.TextChoices):
    NX = "NX", "NX"
    N0 = "N0", "N0"
    N0A = "N0a", "N0a"
    N0B = "N0b", "N0b"
    N1 = "N1", "N1"
    N1A = "N1a", "N1a (level VI/VII)"
    N1B = "N1b", "N1b (lateral I–V, retropharyngeal)"


class MCategory(models.TextChoices):
    M0 = "M0", "M0"
    M1 = "M1", "M1"


class ActivityUnit(models.TextChoices):
    GBQ = "GBq", "GBq"
    MBQ = "MBq", "MBq"
    MCI = "mCi", "mCi"


class YesNoUnknown(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


class LesionRegion(models.TextChoices):
    CERVICAL_NODE = "cervical_node", "Cervical lymph node (level I–VII)"
    SUPRACLAVICULAR = "supraclavicular", "Supraclavicular lymph node"
    MEDIASTINAL = "mediastinal", "Mediastinal lymph node"
    LUNG = "lung", "Lung"
    BONE = "bone", "Bone"
    SOFT_TISSUE = "soft_tissue", "Soft tissue"
    OTHER = "other", "Other"


NODAL_REGIONS = {LesionRegion.CERVICAL_NODE, LesionRegion.SUPRACLAVICULAR, LesionRegion.MEDIASTINAL}


class CervicalLevel(models.TextChoices):
    I = "I", "Level I"  # noqa: E741 - the anatomical name
    II = "II", "Level II"
    III = "III", "Level III"
    IV = "IV", "Level IV"
    V = "V", "Level V"
    VI = "VI", "Level VI"
    VII = "VII", "Level VII"


class Side(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    MIDLINE = "midline", "Midline"


class LungLobe(models.TextChoices):
    RUL = "RUL", "Right upper lobe"
    RML = "RML", "Right middle lobe"
    RLL = "RLL", "Right lower lobe"
    LUL = "LUL", "Left upper lobe"
    LLL = "LLL", "Left lower lobe"


class BiopsyResult(models.TextChoices):
    METASTATIC = "metastatic", "Metastatic DTC"
    BENIGN = "benign", "Benign"
    NONDIAGNOSTIC = "nondiagnostic", "Non-diagnostic"


class Enhancement(models.TextChoices):
    NONE = "none", "None"
    MILD = "mild", "Mild"
    MARKED = "marked", "Marked"


class Ecg(models.TextChoices):
    NORMAL = "normal", "Normal"
    ABNORMAL_NOT_SIGNIFICANT = "abnormal_not_significant", "Abnormal, not clinically significant"
    ABNORMAL_SIGNIFICANT = "abnormal_significant", "Abnormal, clinically significant"


class Qualifier(models.TextChoices):
    EQ = "=", "="
    LT = "<", "<"
    GT = ">", ">"


class RairStatus(models.TextChoices):
    REFRACTORY = "refractory", "RAI-refractory"
    NOT_REFRACTORY = "not_refractory", "Not refractory"
    UNDETERMINED = "undetermined", "Undetermined"


class EligibilityStatus(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"
    INCOMPLETE = "incomplete", "Incomplete"
    NOT_ASSESSED = "not_assessed", "Not assessed"
