"""Catalog benchmark: keyword ms per keystroke, concept query latency, label embed time,
search quality (hit@5, MRR of keyword, concept and hybrid search on bench/catalog_queries.toml).

    python bench/catalog.py [--labels DIR] [--synthetic] [--embed-rows N] [--rounds R]
                            [--embed-choices fp32:1:plain,fp32:1,bf16:1,bf16:2]

Uses the published tables (``../shared/labels`` or ``--labels``) when present, else 20,480
synthetic rows. Keyword search is timed on every prefix of a set of typed queries (what the
TUI runs per keystroke). Concept search needs the concept model (``pip install .[concepts]``):
the bench times the child's start and embedding ``--embed-rows`` labels (cold, in a temp cache;
wall and the child's CPU seconds, per ``--embed-choices``), scores each choice's vectors on the
query set (published tables only), and times per-query latency (query embedding in the child +
keyword scoring + fusion over all label vectors).
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


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    ap.add_argument(
        "--embed-choices",
        default="",
        help="comma-separated DTYPE[:THREADS[:plain]] to time embedding with, e.g. "
        "fp32:1:plain,fp32:1,bf16:1,bf16:2 (plain: the old way, table order, no dedupe); "
        "default: this machine's precision, threads by load",
    )
    ap.add_argument("--queries", type=Path, default=None, help="query set (TOML) for quality")
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
        from hambajuba_tui.catalog import quality

        queries_set = quality.load_queries(args.queries or quality.QUERIES) if published else []
        choices = [c for c in args.embed_choices.split(",") if c] or [concepts.precision()]
        result["embed"] = []
        embedder = None
        labels = [f.label or f"feature {f.id}" for f in cat.rows][: args.embed_rows]
        for n, choice in enumerate(choices):
            dtype, _, rest = choice.partition(":")
            threads, _, how = rest.partition(":")
            os.environ["HAMBAJUBA_EMBED_THREADS"] = threads or ""
            t = time.perf_counter()
            e = concepts.Embedder(dtype=dtype).start()
            e.wait_ready(300)
            row = {"choice": choice, "start_s": round(time.perf_counter() - t, 2)}
            if labels:
                cpu0, t = _cpu_s(e._proc.pid), time.perf_counter()
                if how == "plain":  # before issue 19: table order, 256 at a time, repeats too
                    got = [e.embed(labels[i : i + 256], 300) for i in range(0, len(labels), 256)]
                    vectors = np.concatenate(got)
                else:
                    vectors = concepts.embed_texts(e, labels)
                row.update(
                    rows=len(labels),
                    embed_s=round(time.perf_counter() - t, 1),
                    child_cpu_s=round(_cpu_s(e._proc.pid) - cpu0, 1),
                )
                if len(labels) == len(cat) and queries_set:
                    for b in cat.tables:
                        start = cat._start[b]
                        v = vectors[start : start + len(cat.tables[b].rows)]
                        cat._vectors[b] = v.astype(np.float16).astype(np.float32)
                    qv = quality.query_vectors(e, queries_set)
                    fusions = ["rrf"] if n == len(choices) - 1 else []
                    scored = quality.evaluate(cat, queries_set, qv, fusions)
                    row["quality"] = {
                        m: {k: v[k] for k in ("hit@5", "mrr")} for m, v in scored.items()
                    }
                    if n == len(choices) - 1:
                        result["quality"] = scored
                        result["queries"] = len(queries_set)
            result["embed"].append(row)
            if n == len(choices) - 1:
                embedder = e
            else:
                e.close()
        os.environ.pop("HAMBAJUBA_EMBED_THREADS", None)
        result["embedder_start_s"] = result["embed"][-1]["start_s"]
        if not cat.missing_vectors():
            vectors = "real (cached)" if not labels else "real"
        elif len(labels) == len(cat) and cat._vectors:
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
            hits, note = cat.hybrid_search(q, embedder, timeout=30, limit=50)
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
    for row in result.get("embed", []):
        if "embed_s" in row:
            q = row.get("quality", {}).get("hybrid")
            print(
                f"embed {row['rows']} labels, {row['choice']:<14} {row['embed_s']:>6} s wall "
                f"{row['child_cpu_s']:>6} s cpu (child start {row['start_s']} s)"
                + (f"  hybrid hit@5 {q['hit@5']:.3f} mrr {q['mrr']:.3f}" if q else "")
            )
    if "quality" in result:
        print(f"quality on {result['queries']} queries   hit@5    MRR")
        for mode, v in result["quality"].items():
            print(f"  {mode:<26}{v['hit@5']:>7.3f}{v['mrr']:>7.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
