from django.apps import AppConfig


class DosimetryConfig(AppConfig):
    name = "dosimetry"
