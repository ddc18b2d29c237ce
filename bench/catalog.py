"""Catalog benchmark: keyword ms per keystroke, concept query latency, label embed time.

    python bench/catalog.py [--labels DIR] [--synthetic] [--embed-rows N] [--rounds R]

Uses the published tables (``../shared/labels`` or ``--labels``) when present, else 20,480
synthetic rows. Keyword search is timed on every prefix of a set of typed queries (what the
TUI runs per keystroke). Concept search needs the concept model (``pip install .[concepts]``):
the bench times the child's start, embedding ``--embed-rows`` labels (cold, in a temp cache),
and per-query latency (query embedding in the child + numpy over all label vectors).
Neighbours: decoder cosine over a random 5120×1280 decoder, and label-vector neighbours.
Prints one JSON line (name, figures, machine) and a short table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT.parent / "shared" / "labels"
QUERIES = [
    "warm amber glow",
    "neon",
    "spiral pattern",
    "flower petals",
    "cat face",
    "sunset sky",
    "iridesent",
    "stained glass",
    "up.0.1:154",
    "1702",
    "watercolor",
    "mid.0 tunnel",
    "texture",
    "pokemon",
    "dramatic lighting",
    "crystal",
]
CONCEPT_QUERIES = [
    "warmth",
    "cold",
    "fire",
    "ocean",
    "happiness",
    "spooky",
    "speed",
    "luxury",
    "childhood",
    "storm",
    "softness",
    "electric",
    "ancient ruins",
    "loneliness",
    "celebration",
    "machines",
]
_WORD_TEXT = (
    "warm cold neon glow spiral circle petal flower cat face sunset sky ocean wave stone "
    "glass crystal texture pattern bright dark soft hard shadow light fire ice gold silver "
    "wood metal paper cloth fur feather leaf tree city street window door portrait grid "
    "tunnel depth border frame symmetry radial dense sparse vivid muted pastel"
)
WORDS = _WORD_TEXT.split()


def synthetic_tables(folder: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    cats = ["style", "texture", "lighting", "pattern", "color", "material"]
    for block in ("down.2.1", "mid.0", "up.0.0", "up.0.1"):
        rows = [
            {
                "id": i,
                "label": " ".join(rng.sample(WORDS, rng.randint(2, 6))),
                "category": rng.choice(cats),
                "confidence": rng.choice(["high"] * 8 + ["low"]),
                "meanActivation": round(rng.uniform(5, 50), 2),
            }
            for i in range(5120)
        ]
        (folder / f"{block}.json").write_text(json.dumps(rows))
    return folder


def stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {
        "mean": round(float(a.mean()), 3),
        "p50": round(float(np.percentile(a, 50)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
        "n": len(ms),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=PUBLISHED)
    ap.add_argument("--synthetic", action="store_true", help="ignore the published tables")
    ap.add_argument(
        "--embed-rows",
        type=int,
        default=20_480,
        help="labels to embed cold for the embed-time figure (0: skip)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="keyword passes over all prefixes")
    ap.add_argument("--home", type=Path, help="a HAMBAJUBA_HOME to use (default: a fresh one)")
    ap.add_argument("--concept-queries", type=int, default=len(CONCEPT_QUERIES))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hambajuba-bench-"))
    # cold caches by default, nothing of the user's; --home reuses one (cached label vectors)
    os.environ["HAMBAJUBA_HOME"] = str(args.home or tmp / "home")
    from hambajuba_tui.catalog import concepts, neighbours
    from hambajuba_tui.catalog.catalog import Catalog

    published = not args.synthetic and (args.labels / "up.0.1.json").is_file()
    folder = args.labels if published else synthetic_tables(tmp)
    t0 = time.perf_counter()
    cat = Catalog.load(folder)
    load_s = time.perf_counter() - t0

    prefixes = [q[:n] for q in QUERIES for n in range(1, len(q) + 1)]
    for p in prefixes:  # warm up
        cat.search(p)
    keyword_ms = []
    best = np.full(len(prefixes), np.inf)
    for _ in range(args.rounds):
        for i, p in enumerate(prefixes):
            t = time.perf_counter()
            cat.search(p, limit=50)
            keyword_ms.append((time.perf_counter() - t) * 1e3)
            best[i] = min(best[i], keyword_ms[-1])
    filtered_ms = []
    for p in prefixes:
        t = time.perf_counter()
        cat.search(p, block="up.0.1", min_confidence="medium", limit=50)
        filtered_ms.append((time.perf_counter() - t) * 1e3)

    result: dict = {
        "name": "catalog",
        "rows": len(cat),
        "tables": "published" if published else "synthetic",
        "load_and_index_s": round(load_s, 3),
        "keyword_ms": stats(keyword_ms),
        "keyword_best_of_rounds_ms": stats(best.tolist()),
        "keyword_filtered_ms": stats(filtered_ms),
    }

    rng = np.random.default_rng(0)
    decoder = rng.standard_normal((5120, 1280)).astype(np.float32)
    decoder /= np.linalg.norm(decoder, axis=1, keepdims=True)
    dec_ms = []
    for fid in range(0, 5120, 160):
        t = time.perf_counter()
        neighbours.cosine_neighbours(decoder, fid, 10)
        dec_ms.append((time.perf_counter() - t) * 1e3)
    result["decoder_neighbours_ms"] = stats(dec_ms)

    if concepts.model_installed():
        t = time.perf_counter()
        embedder = concepts.Embedder().start()
        embedder.wait_ready(300)
        result["embedder_start_s"] = round(time.perf_counter() - t, 2)
        labels = [f.label for f in cat.rows][: args.embed_rows]
        if labels:
            t = time.perf_counter()
            concepts.embed_texts(embedder, labels)
            result["embed_s"] = round(time.perf_counter() - t, 1)
            result["embed_rows"] = len(labels)
        if not cat.missing_vectors():
            vectors = "real (cached)"
        elif len(labels) == len(cat):
            cat.embed_labels(embedder)  # the table is embedded above; this caches it
            vectors = "real"
        else:  # stand-in unit vectors so the numpy part is still timed at full size
            for b in cat.tables:
                v = rng.standard_normal((len(cat.tables[b].rows), embedder.dim)).astype(np.float32)
                cat._vectors[b] = v / np.linalg.norm(v, axis=1, keepdims=True)
            vectors = "random stand-ins"
        queries = (CONCEPT_QUERIES * 4)[: max(1, args.concept_queries)]
        embed_ms, concept_ms, examples = [], [], {}
        for q in queries:
            t = time.perf_counter()
            embedder.embed([q], timeout=30)
            embed_ms.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            hits, note = cat.concept_search(q, embedder, timeout=30, limit=50)
            concept_ms.append((time.perf_counter() - t) * 1e3)
            examples[q] = [h.feature.label for h in hits[:3]]
        label_ms = []
        for fid in range(0, 5120, 160):
            t = time.perf_counter()
            cat.neighbours("up.0.1", fid, 10)
            label_ms.append((time.perf_counter() - t) * 1e3)
        embedder.close()
        result.update(
            {
                "label_vectors": vectors,
                "query_embed_ms": stats(embed_ms),
                "concept_search_ms": stats(concept_ms),
                "label_neighbours_ms": stats(label_ms),
                "concept_examples": dict(list(examples.items())[:4]),
            }
        )
    else:
        result["concepts"] = "model not installed"
    result["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    print(f"{result['rows']} rows ({result['tables']}), load+index {load_s:.2f} s")
    print(f"{'what':<26}{'mean ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for key in (
        "keyword_ms",
        "keyword_best_of_rounds_ms",
        "keyword_filtered_ms",
        "decoder_neighbours_ms",
        "query_embed_ms",
        "concept_search_ms",
        "label_neighbours_ms",
    ):
        if key in result:
            s = result[key]
            print(f"{key:<26}{s['mean']:>9.2f}{s['p99']:>9.2f}{s['max']:>9.2f}")
    if "embed_s" in result:
        print(
            f"embedding {result['embed_rows']} labels: {result['embed_s']} s "
            f"(child start {result['embedder_start_s']} s)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
