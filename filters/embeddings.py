"""Sentence embeddings for semantic dedup and decontamination, from a local model directory.

Filters cannot import `generator` (imports point downward), so the model directory is a filter
parameter; the pipeline fills in the offline all-MiniLM-L6-v2 from its wheel when the user
gives none (resource `encoder_dir`). Loaded models are cached per directory for the process, so
a chain with semantic dedup and embedding decontamination loads the encoder once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def load_encoder(model_dir: str) -> Any:
    with _LOCK:
        model = _MODELS.get(model_dir)
        if model is None:
            if not os.path.isdir(model_dir):
                raise FileNotFoundError(f"encoder model directory {model_dir!r} does not exist")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local directory; never the hub
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a CLI's stderr is for the user, not weight loading

            model = _MODELS[model_dir] = SentenceTransformer(model_dir, local_files_only=True)
        return model


def embed(model_dir: str, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), dim) float32 unit vectors: cosine similarity is a dot product."""
    model = load_encoder(model_dir)
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    vectors = model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def resolve_model(model: str | None, encoder_dir: str | None, filter_name: str) -> str:
    """The user's `model` param if given, else the pipeline-provided default encoder directory."""
    chosen = model or encoder_dir
    if not chosen:
        raise ValueError(f"{filter_name}: give `model: /path/to/sentence-transformers/dir`; no default encoder set")
    return str(chosen)
