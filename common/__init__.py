"""The ground floor of SeedTrack: helpers every app may use. No models, and no import of any app.

``common.errors`` is pure Python (the pure cores import it); the other modules may use Django.
"""
