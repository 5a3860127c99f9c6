"""Management commands of the dosimetry app (``dvh``, ``tg43``); their JSON error contract is
``common.commands.JsonCommand``."""
