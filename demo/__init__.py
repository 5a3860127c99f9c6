"""The synthetic demo: cohort generators, synthetic DICOM RT files and the ``load_demo_cohort`` command.

The top floor: it may import every app, and no app imports it. config/settings.py installs it only in demo mode
(``SEEDTRACK_DEMO=1``, as ``make run`` and the test suite set); without it ``manage.py load_demo_cohort`` does
not exist. ``demo.dicom_synth`` is a pure core (no Django), used by the tests and the benchmarks too.
"""
