"""``hambajuba features ...``: list, search, show, import, pull, embed (the CLI side).

The argparse wiring is in ``cli.py`` (``_add_features_parser``, kept import-light); the
printing and the exit codes are here; the work is the catalog's, which raises
:class:`~hambajuba_tui.catalog.errors.CatalogError` (one type) for anything a user can cause.
Those become :class:`~hambajuba_tui.cli_errors.CliError` (one line, an exit code), never a
traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from hambajuba_tui.catalog import concepts, neighbours
from hambajuba_tui.catalog.catalog import Catalog, Hit
from hambajuba_tui.catalog.errors import CatalogError
from hambajuba_tui.catalog.packs import list_packs
from hambajuba_tui.catalog.search import parse_query
from hambajuba_tui.catalog.tables import import_tables, labels_dir
from hambajuba_tui.cli_errors import EXIT_CANCELLED, EXIT_USAGE, CliError
from hambajuba_tui.vocab import BLOCKS

NO_TABLES = (
    "no feature labels yet: run `hambajuba features pull` (downloads the published "
    "tables) or `hambajuba features import PATH`"
)


def _say(message: str) -> None:
    print(f"hambajuba: {message}", file=sys.stderr)


def _catalog() -> Catalog:
    try:
        return Catalog.load()
    except CatalogError as exc:
        raise CliError(f"{exc} (re-import the tables)") from None


def _row(hit: Hit) -> dict:
    f = hit.feature
    return {
        "feature": f.key,
        "block": f.block,
        "id": f.id,
        "label": f.label,
        "category": f.category,
        "confidence": f.confidence,
        "mean_activation": f.mean_activation,
        "score": round(hit.score, 4),
        "match": hit.match,
    }


def _print_hits(hits: list[Hit], as_json: bool, indent: str = "") -> None:
    if as_json:
        return
    for h in hits:
        f = h.feature
        label = f.label or "(unlabelled)"
        print(f"{indent}{f.key:<14} {label[:60]:<60} {f.category:<13} {f.confidence:<6} {h.match}")


def _progress_bar(total_label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(f"[bold]{total_label}[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    task = bar.add_task("", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


NOT_EMBEDDED = (
    "the labels are not embedded yet (importing them does it; `hambajuba features embed` "
    "finishes an interrupted one)"
)
INTERRUPTED = (
    "embedding stopped: the labels are imported and keyword search works; "
    "`hambajuba features embed` finishes the concept vectors (tables done so far are kept)"
)


def _embedder_for(cat: Catalog, embed_missing: bool) -> tuple[concepts.Embedder | None, str]:
    """A ready embedder (labels embedded), or None and why."""
    if not concepts.model_installed():
        return None, f"the concept model is not installed; {concepts.INSTALL_HINT}"
    missing = cat.missing_vectors()
    if missing and not embed_missing:
        return None, NOT_EMBEDDED
    embedder = concepts.Embedder().start()
    try:
        embedder.wait_ready(120)
        if missing:
            rows = sum(len(cat.tables[b].rows) for b in missing)
            _say(f"embedding {rows} labels for concept search (once per table, then cached)")
            update, stop = _progress_bar("embedding labels")
            try:
                cat.embed_labels(embedder, update)
            finally:
                stop()
    except CatalogError as exc:  # the concept model failed
        embedder.close()
        return None, str(exc)
    except BaseException:
        embedder.close()
        raise
    return embedder, ""


def cmd_list(args) -> int:
    cat = _catalog()
    tables = {}
    for b in BLOCKS:
        t = cat.tables.get(b)
        tables[b] = (
            None
            if t is None
            else {
                "rows": len(t.rows),
                "labelled": sum(f.labelled for f in t.rows),
                "categories": cat.categories(b),
                "sha256": t.sha256,
                "concept_vectors": cat.vectors(b) is not None,
                "decoder_neighbours": neighbours.decoder_path(b) is not None,
            }
        )
    info = {
        "labels_dir": str(labels_dir()),
        "tables": tables,
        "concept_model": concepts.model_installed(),
        "packs": list_packs(),
    }
    if args.json:
        print(json.dumps(info))
        return 0
    if not cat.tables:
        _say(NO_TABLES)
    print(f"label tables in {labels_dir()}:")
    for b, t in tables.items():
        if t is None:
            print(f"  {b:<9} (none: features show by id)")
            continue
        cats = ", ".join(f"{c} {n}" for c, n in list(t["categories"].items())[:6])
        extra = [
            w
            for w, on in (("concepts", t["concept_vectors"]), ("decoder", t["decoder_neighbours"]))
            if on
        ]
        print(
            f"  {b:<9} {t['rows']:>5} rows, {t['labelled']} labelled · {cats}"
            + (f" · {', '.join(extra)}" if extra else "")
        )
    model = "installed" if info["concept_model"] else f"not installed ({concepts.INSTALL_HINT})"
    print(f"concept model: {concepts.MODEL_NAME}, {model}")
    print("packs: " + ", ".join(f"{n} ({w})" for n, w in info["packs"].items()))
    return 0


def cmd_search(args) -> int:
    cat = _catalog()
    if not cat.tables:
        raise CliError(NO_TABLES)
    if args.limit < 1:
        raise CliError("--limit must be at least 1", EXIT_USAGE)
    filters = {
        "block": args.block,
        "category": args.category,
        "min_confidence": args.min_confidence,
        "limit": args.limit,
    }
    try:
        keyword = cat.search(args.query, **filters)
        hits, note = keyword, None
        plain = parse_query(args.query)
        wants_concepts = args.mode != "keyword" and plain.feature is None and plain.words
        if wants_concepts:
            embedder, note = _embedder_for(cat, embed_missing=args.mode == "concept")
            if embedder is not None:
                search = cat.concept_search if args.mode == "concept" else cat.hybrid_search
                try:
                    found, note = search(args.query, embedder, timeout=30, **filters)
                finally:
                    embedder.close()
                if note is None:
                    hits = found
    except CatalogError as exc:
        raise CliError(str(exc)) from None
    if note:
        _say(f"keyword search only: {note}")
    if args.json:
        print(json.dumps({"query": args.query, "note": note, "hits": [_row(h) for h in hits]}))
    elif not hits:
        print(f"no features match {args.query!r}")
    _print_hits(hits, args.json)
    return 0


def _parse_ref(text: str) -> tuple[str, int]:
    ref = parse_query(text).feature
    if ref is None:
        raise CliError(
            f"{text!r} is not a feature: write BLOCK:ID, e.g. up.0.1:154 "
            f"(blocks: {', '.join(BLOCKS)})",
            EXIT_USAGE,
        )
    return ref


def cmd_show(args) -> int:
    block, fid = _parse_ref(args.feature)
    cat = _catalog()
    try:
        feature = cat.get(block, fid)
    except CatalogError as exc:
        raise CliError(str(exc)) from None
    from hambajuba_tui.engine.hub import SAE_REPO, snapshot_dir

    status = "cached" if neighbours.decoder_path(block) else None
    if status is None and (args.sae_root is not None or snapshot_dir(SAE_REPO) is not None):
        status = neighbours.prepare_decoders((block,), root=args.sae_root)[block]
        if status != "ok":
            _say(f"decoder neighbours unavailable: {status}")
    near = cat.neighbours(block, fid, k=args.k)
    how = near[0].match if near else "none"
    if args.json:
        print(
            json.dumps(
                {
                    **_row(Hit(feature, 0.0, "id")),
                    "labelled": feature.labelled,
                    "neighbours_by": how,
                    "neighbours": [_row(h) for h in near],
                }
            )
        )
        return 0
    if not cat.tables:
        _say(NO_TABLES)
    print(f"{feature.key}  {feature.label or '(unlabelled)'}")
    if feature.labelled or feature.category:
        print(
            f"  category {feature.category} · confidence {feature.confidence} · "
            f"mean activation {feature.mean_activation:g}"
        )
    by = {
        "decoder": "decoder cosine similarity",
        "label-embedding": "label meaning",
        "label-words": "shared label words",
    }.get(how, "")
    if how == "label-words":
        by += "; by label meaning once embedded: `hambajuba features embed`"
    print(f"  neighbours ({by}):" if near else "  no neighbours (no decoder, no label)")
    _print_hits(near, False, indent="    ")
    return 0


def _embed_after_import(args) -> int:
    """Embed the labels just imported, with a progress bar; Ctrl-C leaves the import done."""
    if getattr(args, "no_embed", False):
        _say(f"keyword search only for now: {NOT_EMBEDDED}")
        return 0
    if not concepts.model_installed():
        _say(f"keyword search only: the concept model is not installed; {concepts.INSTALL_HINT}")
        return 0
    cat = _catalog()
    if not cat.missing_vectors():
        return 0
    try:
        embedder, note = _embedder_for(cat, embed_missing=True)
    except KeyboardInterrupt:
        _say(INTERRUPTED)
        return EXIT_CANCELLED
    if embedder is None:
        _say(f"keyword search only: {note}")
        return 0
    embedder.close()
    print(f"concept search ready: label vectors cached for {', '.join(cat.tables)}")
    return 0


def cmd_import(args) -> int:
    try:
        tables = import_tables(args.paths)
    except CatalogError as exc:
        raise CliError(f"nothing imported: {exc}") from None
    for t in tables:
        print(f"imported {t.block}: {len(t.rows)} rows from {t.source}")
    sys.stdout.flush()
    return _embed_after_import(args)


def cmd_pull(args) -> int:
    from hambajuba_tui.catalog.pull import pull

    try:
        folder, tables = pull(args.revision)
    except CatalogError as exc:
        raise CliError(f"nothing imported: {exc}") from None
    for t in tables:
        print(f"imported {t.block}: {len(t.rows)} rows")
    print(f"from {folder}")
    sys.stdout.flush()
    return _embed_after_import(args)


def cmd_embed(args) -> int:
    cat = _catalog()
    if not cat.tables:
        raise CliError(NO_TABLES)
    embedder, note = _embedder_for(cat, embed_missing=True)
    if embedder is None:
        raise CliError(note)
    embedder.close()
    print(f"label vectors cached for {', '.join(cat.tables)}")
    from hambajuba_tui.engine.hub import SAE_REPO, snapshot_dir

    if args.sae_root is not None or snapshot_dir(SAE_REPO) is not None:
        for block, status in neighbours.prepare_decoders(root=args.sae_root).items():
            print(f"decoder {block}: {status}")
    return 0


COMMANDS = {
    "list": cmd_list,
    "search": cmd_search,
    "show": cmd_show,
    "import": cmd_import,
    "pull": cmd_pull,
    "embed": cmd_embed,
}


def run(args) -> int:
    return COMMANDS[args.features_command](args)
