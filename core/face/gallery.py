"""Gallery matching in embedding space, in the manner of GestaltMatcher (Hsieh et al. 2022).

A :class:`Gallery` holds one embedding per known photo (a row of an ``NxD`` array taken from a
trained network), its class label and a unique photo id. A query embedding is compared with
every gallery photo by cosine distance ``1 - cos(query, photo)`` (0 = same direction,
1 = orthogonal, 2 = opposite). Classes are ranked by the mean distance of their k nearest
photos, so a class with only a handful of gallery photos and no classifier output still ranks.

Every top-N figure is reported with the number of classes and the gallery size
(``shared/docs/DOMAIN.md`` section 4). Research and education use: a ranking is not a diagnosis.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_NORM_EPS = 1e-12


@dataclass(frozen=True)
class Match:
    """One gallery photo matched to a query.

    Attributes:
        id: the gallery photo's id.
        label: its class label.
        distance: cosine distance to the query, in [0, 2].
    """

    id: str
    label: str
    distance: float


@dataclass(frozen=True)
class ClassMatch:
    """One class ranked against a query.

    Attributes:
        label: the class label.
        distance: mean cosine distance of the class's k nearest gallery photos, in [0, 2].
        n_gallery: how many gallery photos the class had in this ranking.
        best_id: id of the class's nearest gallery photo.
    """

    label: str
    distance: float
    n_gallery: int
    best_id: str


def _names(values: Sequence[str], what: str) -> tuple[str, ...]:
    """Non-empty strings as a tuple of plain ``str``."""
    out = tuple(values)
    if not all(isinstance(v, str) and v for v in out):
        raise ValueError(f"{what} must be non-empty strings")
    return tuple(str(v) for v in out)


def _unit_rows(x: np.ndarray, ids: Sequence[str] | None = None) -> np.ndarray:
    """Rows of ``x`` (float64) scaled to unit L2 norm; zero or non-finite rows raise ValueError."""
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings must be finite (no NaN or inf)")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    zero = norms[:, 0] <= _NORM_EPS
    if np.any(zero):
        where = [ids[i] for i in np.flatnonzero(zero)] if ids is not None else "the query"
        raise ValueError(f"zero-length embedding has no direction for cosine distance: {where}")
    return x / norms


class Gallery:
    """Known photos in embedding space, searchable by cosine distance.

    Args:
        embeddings: NxD float array, one embedding per photo; rows are L2-normalised here.
        labels: N class labels (strings).
        ids: N unique photo ids (e.g. file names); they also break distance ties.

    Raises:
        ValueError: on a shape or length mismatch, duplicate ids, non-finite values or a
            zero-length embedding.
    """

    def __init__(self, embeddings: np.ndarray, labels: Sequence[str], ids: Sequence[str]) -> None:
        emb = np.asarray(embeddings, dtype=np.float64)
        if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
            raise ValueError(f"embeddings must be an NxD array with N, D >= 1, got shape {emb.shape}")
        self.labels = _names(labels, "labels")
        self.ids = _names(ids, "ids")
        if not len(self.labels) == len(self.ids) == emb.shape[0]:
            raise ValueError(
                f"need one label and one id per embedding row: {emb.shape[0]} rows, "
                f"{len(self.labels)} labels, {len(self.ids)} ids"
            )
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("gallery ids must be unique")
        self.embeddings = _unit_rows(emb, self.ids)
        self.embeddings.flags.writeable = False
        self.classes = tuple(sorted(set(self.labels)))
        label_arr = np.asarray(self.labels)
        self._members = {c: np.flatnonzero(label_arr == c) for c in self.classes}
        # Rank of each id in sorted order: the secondary sort key for equal distances.
        self._id_rank = np.argsort(np.argsort(np.asarray(self.ids), kind="stable"), kind="stable")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Gallery({len(self)} photos, {len(self.classes)} classes, dim {self.dim})"

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return int(self.embeddings.shape[1])

    @property
    def counts(self) -> dict[str, int]:
        """Number of gallery photos per class, in sorted class order."""
        return {c: int(m.size) for c, m in self._members.items()}

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Cosine distance (float64, in [0, 2]) from ``query`` (a D vector, any scale) to every photo."""
        q = np.asarray(query, dtype=np.float64)
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.shape != (self.dim,):
            raise ValueError(f"query must be a vector of {self.dim} values (the gallery's dimension), "
                             f"got shape {q.shape}")
        q = _unit_rows(q[None, :])[0]
        return np.clip(1.0 - self.embeddings @ q, 0.0, 2.0)

    def _order(self, dist: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``index`` sorted by distance, ties by id."""
        return index[np.lexsort((self._id_rank[index], dist[index]))]

    def rank(self, query: np.ndarray, top: int | None = None) -> list[Match]:
        """Gallery photos nearest first.

        Args:
            query: D-vector embedding of the query photo (scale does not matter).
            top: keep only this many (None = all).

        Returns:
            Matches by ascending cosine distance, equal distances in id order.
        """
        dist = self.distances(query)
        order = self._order(dist, np.arange(len(self)))[: _top(top)]
        return [Match(self.ids[i], self.labels[i], float(dist[i])) for i in order]

    def _rank_classes(self, dist: np.ndarray, k: int, exclude: int | None = None) -> list[ClassMatch]:
        """Classes by mean distance of their k nearest photos; ``exclude`` leaves one photo out."""
        rows = []
        for label, members in self._members.items():
            if exclude is not None:
                members = members[members != exclude]
            if members.size == 0:
                continue
            order = self._order(dist, members)
            near = dist[order[: min(k, order.size)]]
            rows.append(ClassMatch(label, float(near.mean()), int(order.size), self.ids[order[0]]))
        rows.sort(key=lambda r: (r.distance, r.label))
        return rows

    def class_ranking(self, query: np.ndarray, top: int | None = 10, k: int = 1) -> list[ClassMatch]:
        """One row per class, nearest class first.

        Args:
            query: D-vector embedding of the query photo.
            top: keep only this many classes (None = all).
            k: a class's distance is the mean over its k nearest gallery photos; capped at the
                class's photo count, so a class with 2 photos uses both when k = 5.

        Returns:
            Class matches by ascending distance, equal distances in label order.
        """
        return self._rank_classes(self.distances(query), _positive(k, "k"))[: _top(top)]

    def leave_one_out_topk(self, ks: Sequence[int] = (1, 3, 5), k: int = 1) -> dict[str, float | int]:
        """Top-k class accuracy, each gallery photo ranked against the rest of the gallery.

        A photo whose class has no other gallery photo cannot be matched to its class; such
        photos are skipped (counted in ``n_skipped``) rather than scored as misses.

        Args:
            ks: top-k values; those larger than the number of classes are left out.
            k: nearest photos averaged per class, as in :meth:`class_ranking`.

        Returns:
            ``{"top_1": ..., "top_3": ..., "n_classes": C, "gallery_size": N - 1,
            "n_queries": ..., "n_skipped": ...}``, the same style as the ``top_k`` entry of
            ``core.metrics.classification_report``; ``gallery_size`` is the number of photos
            each query was ranked against. Accuracies are NaN when no photo could be queried.
        """
        k = _positive(k, "k")
        kept = sorted({_positive(int(v), "ks value") for v in ks if v <= len(self.classes)})
        dist_all = np.clip(1.0 - self.embeddings @ self.embeddings.T, 0.0, 2.0)
        positions = []
        for i, label in enumerate(self.labels):
            if self._members[label].size < 2:
                continue
            ranking = self._rank_classes(dist_all[i], k, exclude=i)
            positions.append(next(j for j, row in enumerate(ranking) if row.label == label))
        pos = np.asarray(positions)
        result: dict[str, float | int] = {
            f"top_{kk}": float(np.mean(pos < kk)) if pos.size else float("nan") for kk in kept
        }
        result.update(n_classes=len(self.classes), gallery_size=len(self) - 1,
                      n_queries=int(pos.size), n_skipped=len(self) - int(pos.size))
        return result

    def save(self, path: str | Path) -> Path:
        """Write the gallery as ``.npz`` (``embeddings`` float32 unit rows, ``labels``, ``ids``).

        Returns:
            The path written (numpy adds ``.npz`` when the name lacks it).
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        np.savez(path, embeddings=self.embeddings.astype(np.float32),
                 labels=np.asarray(self.labels, dtype=str), ids=np.asarray(self.ids, dtype=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Gallery:
        """Read a gallery written by :meth:`save` (no pickled objects are accepted)."""
        with np.load(Path(path), allow_pickle=False) as data:
            missing = {"embeddings", "labels", "ids"} - set(data.files)
            if missing:
                raise ValueError(f"{path} is not a gallery file: missing arrays {sorted(missing)}")
            return cls(data["embeddings"], data["labels"].tolist(), data["ids"].tolist())


def _positive(value: int, name: str) -> int:
    """``value`` as an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _top(top: int | None) -> int | None:
    """A slice end for ``top`` (None keeps everything)."""
    return None if top is None else _positive(top, "top")


PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class FolderGallery:
    """A gallery built from a folder of photos (one sub-folder per class).

    Attributes:
        gallery: the embeddings, labels and ids (id = the photo's path relative to the folder).
        paths: id -> the photo's path.
        skipped: id -> why the photo is not in the gallery (no face found, unreadable).
    """

    gallery: Gallery
    paths: dict[str, Path]
    skipped: dict[str, str]


def gallery_from_folder(folder: str | Path, embed: Callable[[Path], np.ndarray]) -> FolderGallery:
    """Embed every photo of an ImageFolder-style gallery (``folder/<class>/<photo>``).

    Args:
        folder: the gallery folder; each sub-folder is a class, its photos (any depth) its cases.
        embed: photo path -> D embedding (e.g. a screener's whole-face features); any exception it
            raises (no face, unreadable file) skips that photo, with the reason kept.

    Raises:
        FileNotFoundError: no class sub-folder with a photo, or no photo could be embedded.
    """
    root = Path(folder)
    items = [(c.name, p) for c in sorted(root.iterdir()) if c.is_dir()
             for p in sorted(c.rglob("*")) if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES] \
        if root.is_dir() else []
    if not items:
        raise FileNotFoundError(f"no photos in class sub-folders of {root} (expected {root}/<class>/<photo>)")
    rows, labels, ids, paths, skipped = [], [], [], {}, {}
    for label, path in items:
        pid = path.relative_to(root).as_posix()
        try:
            rows.append(np.asarray(embed(path), np.float32).ravel())
        except Exception as exc:  # noqa: BLE001 - a bad gallery photo is skipped, with the reason kept
            skipped[pid] = str(exc) or type(exc).__name__
            continue
        labels.append(label)
        ids.append(pid)
        paths[pid] = path
    if not rows:
        raise FileNotFoundError(f"none of the {len(items)} photos in {root} could be embedded: "
                                + "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:3]))
    return FolderGallery(Gallery(np.stack(rows), labels, ids), paths, skipped)


INDEX_NAME = "gallery_index.npz"  # beside a gallery folder: its embeddings, computed ahead


def folder_digest(folder: str | Path) -> str:
    """sha256 over every file of a gallery folder: its path relative to the folder and its bytes
    (content only, not times: a fresh clone of the same photos has the same digest)."""
    root = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def save_index(fg: FolderGallery, folder: str | Path, model_sha256: str, path: str | Path) -> Path:
    """Write a folder gallery's embeddings to ``path`` (.npz), keyed by the folder's content
    (:func:`folder_digest`) and the sha256 of the weights that embedded it."""
    g = fg.gallery
    out = Path(path)
    with out.open("wb") as f:  # np.savez would add ".npz" to a name without it
        np.savez_compressed(f, embeddings=g.embeddings.astype(np.float32), labels=np.array(g.labels),
                            ids=np.array(g.ids), skipped_ids=np.array(list(fg.skipped), dtype=str),
                            skipped_reasons=np.array(list(fg.skipped.values()), dtype=str),
                            folder_sha256=np.array(folder_digest(folder)),
                            model_sha256=np.array(model_sha256))
    return out


def load_index(folder: str | Path, model_sha256: str, path: str | Path) -> FolderGallery | None:
    """The folder gallery saved by :func:`save_index`, or None when there is none, it cannot be read,
    or it was made from other photos or other weights (then embed the folder again)."""
    root, p = Path(folder), Path(path)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            if str(z["model_sha256"]) != model_sha256 or str(z["folder_sha256"]) != folder_digest(root):
                return None
            ids = [str(i) for i in z["ids"]]
            gallery = Gallery(z["embeddings"], [str(x) for x in z["labels"]], ids)
            skipped = dict(zip((str(i) for i in z["skipped_ids"]), (str(r) for r in z["skipped_reasons"])))
    except (OSError, KeyError, ValueError):
        return None
    return FolderGallery(gallery, {i: root / i for i in ids}, skipped)
