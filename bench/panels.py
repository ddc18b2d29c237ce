"""Panels benchmark: what a user feels when playing the instrument.

    python bench/panels.py [--labels DIR] [--synthetic] [--edits N]

Drives the real app headless (Textual's pilot, the real engine worker) with the published label
tables (``../shared/labels`` or ``--labels``, imported into a temp home) or 20,480 synthetic rows:
- browser ms per keystroke: the UI thread's keyword search + result list rebuild, per prefix of
  a few typed queries (neighbours and concept search run in threads, not counted);
- edit → new frame ms: the app paused, a crossfader key is pressed, until the worker's next
  frame (rendered with the new Session) is shown;
- with the concept model installed: how long the browser takes to embed the labels in the
  background on first open (cold temp home; ``--home`` reuses a cache), then concept latency:
  each query typed a key every 80 ms, from the last key to the fused results on screen (40
  different queries, so none is answered from the browser's cache of query vectors).
Prints one JSON line (name, figures, machine) and a short table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT.parent / "shared" / "labels"
QUERIES = ["warm amber glow", "neon", "spiral pattern", "up.0.1:154", "1702", "texture"]
CONCEPT_QUERIES = [
    "scary",
    "warmth",
    "a cosy winter evening",
    "speed",
    "lonely",
    "shiny metal",
    "ocean",
    "happiness",
    "ancient ruins",
    "soft fur",
    "storm",
    "little dots",
    "celebration",
    "machines",
    "golden light",
    "sad",
    "tunnel",
    "teal",
    "buterfly",
    "luxury",
    "autumn leaves",
    "robot",
    "calm water",
    "neon city at night",
    "old photograph",
    "sunlight through trees",
    "rough stone wall",
    "childhood toys",
    "snowy mountains",
    "candle light",
    "spiral staircase",
    "fluffy clouds",
    "rainy window",
    "horse riding",
    "red roses",
    "glass reflections",
    "desert sand dunes",
    "crowded market",
    "underwater",
    "comic book style",
]
_WORD_TEXT = (
    "warm cold neon glow spiral circle petal flower cat face sunset sky ocean wave "
    "stone glass crystal texture pattern bright dark soft shadow light fire ice gold "
    "wood metal paper fur feather leaf tree city street window portrait tunnel depth"
)
WORDS = _WORD_TEXT.split()


def synthetic_tables(folder: Path) -> Path:
    from hambajuba_tui.vocab import BLOCKS

    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for block in BLOCKS:
        rows = [
            {
                "id": i,
                "label": " ".join(rng.sample(WORDS, rng.randint(2, 5))),
                "category": rng.choice(["color", "texture", "style", "lighting"]),
                "confidence": rng.choice(["high", "medium", "low"]),
                "meanActivation": 10.0,
            }
            for i in range(5120)
        ]
        (folder / f"{block}.json").write_text(json.dumps(rows))
    return folder


async def measure(edits: int, concept_queries: int = 0) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import numpy as np
    from conftest import make_analysis

    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.show import Show, ShowOptions
    from hambajuba_tui.tui.app import HambajubaApp
    from hambajuba_tui.vocab import SAMPLE_RATE

    analysis = make_analysis(duration=30.0)
    silence = np.zeros((int(analysis.duration * SAMPLE_RATE), 2), np.float32)
    show = Show(
        analysis,
        silence,
        SAMPLE_RATE,
        load_pack().session(),
        ShowOptions(width=256, height=256, sound=False),
    )
    app = HambajubaApp(show, title="bench")
    out: dict = {}
    async with app.run_test(size=(130, 50)) as pilot:
        while not show.playing:
            await pilot.pause(0.05)
        started = time.perf_counter()  # the key, the panel, the catalog (if not loaded yet)
        await pilot.press("f")
        panel = app.open_panel_widget
        while app.catalog is None or not panel.hits:
            await pilot.pause(0.02)
        out["catalog_load_s"] = time.perf_counter() - started
        out["rows"] = len(app.catalog)
        query = app.query_one("#query")
        keystroke = []
        for text in QUERIES:
            query.value = ""
            for n in range(1, len(text) + 1):
                query.value = text[:n]
                t0 = time.perf_counter()
                panel.search()
                keystroke.append(1000 * (time.perf_counter() - t0))
                await pilot.pause(0.01)
        out["keystroke_ms"] = {
            "median": statistics.median(keystroke),
            "p95": sorted(keystroke)[int(0.95 * (len(keystroke) - 1))],
            "n": len(keystroke),
        }
        job = app.embedding
        if concept_queries and (job is not None or not app.catalog.missing_vectors()):
            while job is not None and not job.finished:
                await pilot.pause(0.1)
            if job is not None:
                out["background_embed_s"] = time.perf_counter() - started
                out["embed_error"] = job.error
            app.concept_embedder().wait_ready(300)
            concept, phases = [], []
            for text in (CONCEPT_QUERIES * 10)[:concept_queries]:
                query.value = ""
                await pilot.pause(0.3)
                for n in range(1, len(text) + 1):
                    query.value = text[:n]
                    last = time.perf_counter()
                    await pilot.pause(0.08)  # a typist: a key every 80 ms
                while panel.concept_shown_at < last and time.perf_counter() - last < 5:
                    await pilot.pause(0.002)
                concept.append(1000 * (panel.concept_shown_at - last))
                started, searched, shown = panel.concept_timing
                phases.append((started - last, searched - started, shown - searched))
            concept.sort()
            out["concept_after_last_key_ms"] = {
                "median": statistics.median(concept),
                "p95": concept[int(0.95 * (len(concept) - 1))],
                "max": concept[-1],
                "n": len(concept),
                # median ms: last key → worker start (pause + thread), query embedding in the
                # child + keyword scores + fusion, hand-over to the UI thread + list shown
                "phases_median_ms": [
                    round(1000 * statistics.median(p[i] for p in phases), 1) for i in range(3)
                ],
            }
        await pilot.press("escape", "space")  # paused: a frame comes only from an edit
        await pilot.pause(0.5)
        lat = []
        for i in range(edits):
            shown = show.status.shown
            t0 = time.perf_counter()
            await pilot.press("right_square_bracket" if i % 2 == 0 else "left_square_bracket")
            while show.status.shown == shown and time.perf_counter() - t0 < 5:
                await pilot.pause(0.002)
            lat.append(1000 * (time.perf_counter() - t0))
            await pilot.pause(0.1)
        out["edit_to_frame_ms"] = {"median": statistics.median(lat), "max": max(lat), "n": len(lat)}
        await pilot.press("q")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=PUBLISHED)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--concept-queries", type=int, default=40, help="0: skip concept latency")
    ap.add_argument("--home", type=Path, help="a HAMBAJUBA_HOME to use (label vectors cached)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = str(args.home or tmp)
        os.environ["HAMBAJUBA_HOME"] = home
        os.environ.setdefault("HAMBAJUBA_AUDIO", "none")
        from hambajuba_tui.catalog.tables import import_tables

        published = not args.synthetic and (args.labels / "up.0.1.json").is_file()
        source = args.labels if published else synthetic_tables(Path(home) / "synthetic")
        import_tables(sorted(source.glob("*.json")))
        figures = asyncio.run(measure(max(1, args.edits), args.concept_queries))
    result = {
        "name": "panels",
        "labels": "published" if published else "synthetic",
        **figures,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    print(json.dumps(result))
    k, e = result["keystroke_ms"], result["edit_to_frame_ms"]
    print(
        f"{'rows':>6}{'load s':>8}{'key ms med':>12}{'key ms p95':>12}"
        f"{'edit→frame med':>16}{'max':>8}"
    )
    print(
        f"{result['rows']:>6}{result['catalog_load_s']:>8.2f}{k['median']:>12.1f}"
        f"{k['p95']:>12.1f}{e['median']:>16.1f}{e['max']:>8.1f}"
    )
    if "background_embed_s" in result:
        print(f"labels embedded in the background in {result['background_embed_s']:.1f} s")
    if "concept_after_last_key_ms" in result:
        c = result["concept_after_last_key_ms"]
        print(
            f"concept results after the last key: median {c['median']:.0f} ms, "
            f"p95 {c['p95']:.0f} ms, max {c['max']:.0f} ms (n={c['n']})"
        )


if __name__ == "__main__":
    main()
