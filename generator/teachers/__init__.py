"""Teachers: the `Teacher` protocol and request/completion types (base.py), the in-process vLLM
engine (vllm.py), an OpenAI-compatible server (openai.py), log-probability scoring shared by both
(scoring.py), a Ray pool of engines (ray.py), embedded model resolution (models.py), and how a run's
teacher is built (registry.py: a new backend is one module plus one line there).

Importing this package never imports vLLM: the engine is loaded when a teacher is first used.
"""
