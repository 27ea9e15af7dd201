"""Seed readers, teachers, generation strategies, the run journal and dataset writers.

Importing this package never imports vLLM: the engine is loaded when a teacher is first used.
"""
