"""Gallery matching on constructed embeddings: cosine distances by hand, class ranking with
k-nearest means, scale invariance, save/load and leave-one-out top-k."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from core.face.gallery import ClassMatch, Gallery, Match
from core.metrics import top_k_caption


def clustered_gallery(seed: int = 0, noise: float = 0.05) -> Gallery:
    """Class centroids on the axes of R^4: A (5 photos) on e0, B (5) on e1, C (only 2) on e2."""
    rng = np.random.default_rng(seed)
    sizes = {"A": 5, "B": 5, "C": 2}
    rows, labels, ids = [], [], []
    for axis, (label, n) in enumerate(sizes.items()):
        for i in range(n):
            rows.append(np.eye(4)[axis] + noise * rng.standard_normal(4))
            labels.append(label)
            ids.append(f"{label.lower()}{i}.jpg")
    return Gallery(np.array(rows), labels, ids)


def test_cosine_distances_and_rank_order_by_hand():
    # query [3, 0] (scale is irrelevant):
    #   a = [1, 0] -> cos 1        -> distance 0
    #   b = [0, 2] -> cos 0        -> distance 1
    #   c = [1, 1] -> cos 1/sqrt 2 -> distance 1 - 0.7071 = 0.2929
    #   d = [-1, 0] -> cos -1      -> distance 2
    g = Gallery(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.0]]), ["X", "Y", "X", "Y"],
                ["a", "b", "c", "d"])
    ranked = g.rank(np.array([3.0, 0.0]))
    assert [m.id for m in ranked] == ["a", "c", "b", "d"]
    assert [m.distance for m in ranked] == pytest.approx([0.0, 1 - 1 / math.sqrt(2), 1.0, 2.0])
    assert ranked[1] == Match("c", "X", pytest.approx(1 - 1 / math.sqrt(2)))
    assert [m.id for m in g.rank(np.array([3.0, 0.0]), top=2)] == ["a", "c"]


def test_equal_distances_are_ordered_by_id():
    g = Gallery(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]), ["P", "Q", "R"], ["z.jpg", "m.jpg", "a.jpg"])
    assert [m.id for m in g.rank(np.array([1.0, 0.0]))] == ["m.jpg", "z.jpg", "a.jpg"]


def test_construction_normalises_and_counts():
    g = clustered_gallery()
    assert len(g) == 12 and g.dim == 4
    assert g.classes == ("A", "B", "C")
    assert g.counts == {"A": 5, "B": 5, "C": 2}
    np.testing.assert_allclose(np.linalg.norm(g.embeddings, axis=1), 1.0)


def test_class_with_two_photos_ranks_first_when_query_is_near_it():
    g = clustered_gallery()
    ranking = g.class_ranking(np.array([0.02, -0.01, 1.0, 0.03]), k=3)
    assert [r.label for r in ranking] == ["C", "A", "B"]
    assert ranking[0].n_gallery == 2 and ranking[0].best_id in {"c0.jpg", "c1.jpg"}
    assert ranking[0].distance < 0.05 < ranking[1].distance
    assert len(g.class_ranking(np.array([0.0, 0.0, 1.0, 0.0]), top=1)) == 1


def test_class_distance_is_mean_of_k_nearest_capped_by_class_size():
    # query [1, 0]; class X photos at distances 0 ([1, 0]), 1 - 1/sqrt 2 = 0.2929 ([1, 1]), 1 ([0, 1]);
    # class Y has one photo [1, 0.5]: cos = 1/sqrt 1.25 = 0.8944 -> distance 0.1056.
    #   k = 1: X 0          < Y 0.1056
    #   k = 2: X (0 + 0.2929)/2 = 0.1464 > Y 0.1056 (Y capped at its single photo)
    #   k = 3: X (0 + 0.2929 + 1)/3 = 0.4310
    g = Gallery(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.5]]), ["X", "X", "X", "Y"],
                ["x0", "x1", "x2", "y0"])
    q = np.array([1.0, 0.0])
    d_y = 1 - 1 / math.sqrt(1.25)
    assert g.class_ranking(q, k=1) == [ClassMatch("X", pytest.approx(0.0), 3, "x0"),
                                       ClassMatch("Y", pytest.approx(d_y), 1, "y0")]
    k2 = g.class_ranking(q, k=2)
    assert [r.label for r in k2] == ["Y", "X"]
    assert k2[1].distance == pytest.approx((1 - 1 / math.sqrt(2)) / 2)
    assert g.class_ranking(q, k=3)[1].distance == pytest.approx((1 - 1 / math.sqrt(2) + 1) / 3)
    assert g.class_ranking(q, k=50)[0].label == "Y"  # k beyond every class size is capped, not an error


def test_scaling_the_query_or_the_gallery_does_not_change_the_ranking():
    g = clustered_gallery()
    q = np.array([0.6, 0.5, 0.2, -0.1])
    base = g.rank(q)
    for scale in (1e-3, 7.3, 1e4):
        assert [m.id for m in g.rank(scale * q)] == [m.id for m in base]
        assert [m.distance for m in g.rank(scale * q)] == pytest.approx([m.distance for m in base])
    scaled = Gallery(g.embeddings * np.arange(1, 13)[:, None], g.labels, g.ids)
    assert [m.id for m in scaled.rank(q)] == [m.id for m in base]


def test_zero_vectors_are_rejected():
    with pytest.raises(ValueError, match="zero-length.*b.jpg"):
        Gallery(np.array([[1.0, 0.0], [0.0, 0.0]]), ["X", "Y"], ["a.jpg", "b.jpg"])
    g = clustered_gallery()
    with pytest.raises(ValueError, match="zero-length"):
        g.rank(np.zeros(4))


def test_bad_construction_and_queries_raise():
    with pytest.raises(ValueError, match="one label and one id"):
        Gallery(np.eye(3), ["X", "Y"], ["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        Gallery(np.eye(2), ["X", "Y"], ["a", "a"])
    with pytest.raises(ValueError, match="NxD"):
        Gallery(np.ones(3), ["X"], ["a"])
    with pytest.raises(ValueError, match="finite"):
        Gallery(np.array([[np.nan, 1.0]]), ["X"], ["a"])
    g = clustered_gallery()
    with pytest.raises(ValueError, match="vector of 4"):
        g.rank(np.ones(3))
    with pytest.raises(ValueError, match="k must"):
        g.class_ranking(np.ones(4), k=0)


def test_save_load_round_trip(tmp_path):
    g = clustered_gallery()
    path = g.save(tmp_path / "gallery")
    assert path == tmp_path / "gallery.npz" and path.exists()
    back = Gallery.load(path)
    assert back.labels == g.labels and back.ids == g.ids
    assert all(type(v) is str for v in back.labels + back.ids)
    np.testing.assert_allclose(back.embeddings, g.embeddings, atol=1e-6)
    q = np.array([0.3, 0.9, 0.1, 0.0])
    assert [m.id for m in back.rank(q)] == [m.id for m in g.rank(q)]


def test_load_refuses_pickled_or_incomplete_files(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, embeddings=np.eye(2, dtype=np.float32), labels=np.array(["X", None], dtype=object),
             ids=np.array(["a", "b"]))
    with pytest.raises(ValueError):
        Gallery.load(pickled)
    incomplete = tmp_path / "incomplete.npz"
    np.savez(incomplete, embeddings=np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="missing arrays"):
        Gallery.load(incomplete)


def test_leave_one_out_on_a_separable_construction_is_perfect():
    g = clustered_gallery()
    result = g.leave_one_out_topk(ks=(1, 3, 5))
    # 3 classes: top-5 is left out; every photo's nearest other photo is in its own class
    assert result == {"top_1": 1.0, "top_3": 1.0, "n_classes": 3, "gallery_size": 11,
                      "n_queries": 12, "n_skipped": 0}
    assert top_k_caption(result) == "top-1 1.00, top-3 1.00 over 3 classes (gallery of 11 photos)"


def test_leave_one_out_by_hand_with_an_outlier_and_a_singleton():
    # A: [1, 0], [1, 0.1] and an outlier [0.3, 1]; B: [0, 1], [0.1, 1]; S: one photo [-1, -1].
    # Angles from the x axis: A 0, 5.7 and 73.3 degrees; B 90 and 84.3 degrees.
    #   A [1, 0]   -> nearest A [1, 0.1]               hit
    #   A [1, .1]  -> nearest A [1, 0]                 hit
    #   A outlier  -> B [0.1, 1] at 11.0 degrees beats A [1, 0.1] at 67.6 -> A ranked 2nd
    #   B [0, 1]   -> B [0.1, 1] at 5.7 beats the outlier at 16.7     hit
    #   B [.1, 1]  -> B [0, 1] at 5.7 beats the outlier at 11.0       hit
    #   S          -> no other S photo: skipped
    # top-1 = 4/5, top-2 = 5/5 over 3 classes, each query ranked against 5 photos.
    g = Gallery(np.array([[1, 0], [1, 0.1], [0.3, 1], [0, 1], [0.1, 1], [-1, -1]]),
                ["A", "A", "A", "B", "B", "S"], ["a0", "a1", "a2", "b0", "b1", "s0"])
    result = g.leave_one_out_topk(ks=(1, 2))
    assert result == {"top_1": pytest.approx(0.8), "top_2": 1.0, "n_classes": 3, "gallery_size": 5,
                      "n_queries": 5, "n_skipped": 1}


def test_gallery_from_folder_embeds_class_subfolders_and_skips_bad_photos(tmp_path: Path) -> None:
    from core.face.gallery import gallery_from_folder

    for label, n in (("a", 2), ("b", 1)):
        (tmp_path / label).mkdir()
        for i in range(n):
            (tmp_path / label / f"{i}.png").write_bytes(b"x")
    (tmp_path / "b" / "broken.jpg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a class")
    vectors = {"a/0.png": [1.0, 0.0], "a/1.png": [0.9, 0.1], "b/0.png": [0.0, 1.0]}

    def embed(path: Path) -> np.ndarray:
        key = path.relative_to(tmp_path).as_posix()
        if key not in vectors:
            raise ValueError("no face found")
        return np.array(vectors[key])

    fg = gallery_from_folder(tmp_path, embed)
    assert len(fg.gallery) == 3 and fg.gallery.counts == {"a": 2, "b": 1}
    assert fg.skipped == {"b/broken.jpg": "no face found"} and fg.paths["a/1.png"] == tmp_path / "a" / "1.png"
    assert fg.gallery.class_ranking(np.array([0.1, 1.0]))[0].label == "b"
    with pytest.raises(FileNotFoundError, match="no photos"):
        gallery_from_folder(tmp_path / "a", embed)


# ---------------------------------------------------------------- gallery index (embedded ahead)
def _folder_gallery(root):
    from core.face.gallery import gallery_from_folder

    for label, n in (("a", 2), ("b", 3)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            (root / label / f"{i}.jpg").write_bytes(bytes([i, len(label), 7]) * 10)
    rng = np.random.default_rng(0)
    vectors = {}

    def embed(path):
        if path.name == "2.jpg" and path.parent.name == "b":
            raise ValueError("no face")
        return vectors.setdefault(path, rng.normal(size=8))

    return gallery_from_folder(root, embed)


def test_index_round_trip_and_staleness(tmp_path):
    from core.face.gallery import load_index, save_index

    root, index = tmp_path / "gallery", tmp_path / "gallery_index.npz"
    fg = _folder_gallery(root)
    save_index(fg, root, "sha-model", index)
    back = load_index(root, "sha-model", index)
    assert back is not None
    assert back.gallery.ids == fg.gallery.ids and back.gallery.labels == fg.gallery.labels
    np.testing.assert_allclose(back.gallery.embeddings, fg.gallery.embeddings, atol=1e-6)
    assert back.skipped == {"b/2.jpg": "no face"} and back.paths["a/0.jpg"] == root / "a" / "0.jpg"
    assert load_index(root, "other-weights", index) is None
    (root / "a" / "1.jpg").write_bytes(b"another photo")
    assert load_index(root, "sha-model", index) is None  # other photos: embed again
    assert load_index(root, "sha-model", tmp_path / "missing.npz") is None
    index.write_bytes(b"not an npz")
    assert load_index(root, "sha-model", index) is None


def test_folder_digest_reads_content_not_times(tmp_path):
    import os

    from core.face.gallery import folder_digest

    root = tmp_path / "g"
    (root / "a").mkdir(parents=True)
    photo = root / "a" / "x.jpg"
    photo.write_bytes(b"abc")
    before = folder_digest(root)
    os.utime(photo, (1, 1))
    assert folder_digest(root) == before
    photo.rename(root / "a" / "y.jpg")
    assert folder_digest(root) != before
