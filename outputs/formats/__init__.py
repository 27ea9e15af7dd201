"""Export formats: one module per format, listed in registry.py."""
