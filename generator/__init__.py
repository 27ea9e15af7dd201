"""The user's generation package: seed files (seeds/), teachers (teachers/), the gateway every
teacher call passes (gateway.py), the strategies — Self-Instruct (selfinstruct.py), Evol-Instruct
(evolve.py), augmentation (augment.py), multi-turn (multiturn.py), labeled texts (classify.py with
label_guard.py) — their configs, and label verification (verify/).

Importing this package never imports vLLM: the engine is loaded when a teacher is first used.
"""
