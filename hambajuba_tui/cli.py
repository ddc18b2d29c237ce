"""Command line: ``hambajuba demo | play FILE | live | analyze FILE | snapshot FILE --at T |
features ... | models status|pull | skins list|check | render FILE -o OUT | serve``.

Errors a user can cause (missing or unreadable files, bad options) end with one line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from hambajuba_tui.cli_errors import EXIT_CANCELLED, EXIT_CRASH, EXIT_INPUT, EXIT_USAGE, CliError


def _stems_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stems",
        default="auto",
        choices=["auto", "demucs", "dsp"],
        help="stem separation: demucs (htdemucs, needs its weights on this machine), "
        "dsp (rough, no weights) or auto (demucs when it can, else dsp; default)",
    )


def _show_options(p: argparse.ArgumentParser, live: bool = False) -> None:
    if not live:
        _stems_option(p)
        p.add_argument(
            "--wait-analysis",
            action="store_true",
            help="analyse the whole song (stems and all) before it starts, instead of dancing "
            "at once on a quick streaming analysis while the full one runs behind",
        )
    p.add_argument(
        "--engine",
        default="auto",
        type=_engine_arg,
        metavar="{auto,sdxl-turbo,preview,ws://HOST:PORT,wss://HOST:PORT}",
        help="what turns frame params into pixels: sdxl-turbo (the real model, needs "
        "its weights and a GPU), preview (CPU, no weights), auto (sdxl-turbo "
        "when it can run, else preview; default) or a `hambajuba serve` address "
        "(ws://HOST:PORT, wss://HOST:PORT; see --token-file)",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        help="remote engine: a file holding the server's token (needed unless it is on loopback)",
    )
    p.add_argument(
        "--decoder",
        default="taesd",
        choices=["taesd", "vae"],
        help="sdxl-turbo decoder: taesd (TAESDXL, fast; default) or vae (full VAE)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="frame size in pixels (default 512 for sdxl-turbo, 256 for preview)",
    )
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    if not live:
        p.add_argument("--no-sound", action="store_true", help="silent clock, no audio output")
    p.add_argument(
        "--skin", type=Path, help="a skin: a TOML file, or a name (hambajuba skins list)"
    )
    p.add_argument(
        "--pack",
        type=Path,
        help="a feature pack: a TOML file, or a pack name (see `features list`)",
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help="run without a terminal UI; with --seconds and --frames-out",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="headless: seconds of the song to run (default 10)",
    )
    if not live:
        p.add_argument("--start", type=float, default=0.0, help="start at this time (s)")
    p.add_argument("--frames-out", type=Path, help="headless: write shown frames and summary.json")
    p.add_argument(
        "--frames-every",
        type=int,
        default=1,
        help="headless: write every Nth shown frame as PNG (default 1)",
    )
    p.add_argument(
        "--graphics",
        default="auto",
        choices=["auto", "kitty", "sixel", "halfblock"],
        help="how the heart is drawn (default: auto, probes the terminal)",
    )


def _engine_arg(value: str) -> str:
    """``--engine``: a local engine's name or a ``hambajuba serve`` address."""
    if value in ("auto", "sdxl-turbo", "preview"):
        return value
    if value.startswith(("ws://", "wss://")):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value)
            ok = bool(parts.hostname) and parts.port is not None
        except ValueError:
            ok = False
        if ok:
            return value
        raise argparse.ArgumentTypeError(f"{value!r}: a server address is ws://HOST:PORT")
    raise argparse.ArgumentTypeError(
        f"invalid choice: {value!r} (choose from auto, sdxl-turbo, preview, ws://HOST:PORT)"
    )


# -- hambajuba serve ---------------------------------------------------------------------------
def _add_serve_parser(sub) -> None:
    from hambajuba_tui.server import DEFAULT_BIND, JPEG_QUALITY

    p = sub.add_parser(
        "serve", help="run an engine for remote clients (the GPU machine; no terminal UI)"
    )
    p.add_argument("--bind", default=DEFAULT_BIND, help=f"HOST:PORT (default {DEFAULT_BIND})")
    p.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "sdxl-turbo", "preview"],
        help="engine to serve (default auto: sdxl-turbo when it can run, else preview)",
    )
    p.add_argument(
        "--decoder", default="taesd", choices=["taesd", "vae"], help="sdxl-turbo decoder"
    )
    p.add_argument("--size", type=int, default=None, help="sdxl-turbo frame size (default 512)")
    p.add_argument("--max-clients", type=int, default=4, help="clients at once (default 4)")
    p.add_argument(
        "--token-file",
        type=Path,
        help="a file holding the token clients must present (required unless --bind is loopback)",
    )
    p.add_argument("--cert", type=Path, help="TLS certificate (PEM) for wss://")
    p.add_argument("--key", type=Path, help="TLS private key (PEM) for wss://")
    p.add_argument(
        "--quality", type=int, default=JPEG_QUALITY, help=f"JPEG quality (default {JPEG_QUALITY})"
    )
    p.add_argument(
        "--report-every", type=float, default=10.0, help="seconds between fps lines (default 10)"
    )


def cmd_serve(args) -> int:
    from hambajuba_tui.engine.errors import ModelMissing
    from hambajuba_tui.engine.models import resolve_engine
    from hambajuba_tui.server import ServeError, ServeOptions, check_options, read_token, run

    try:
        token = read_token(args.token_file) if args.token_file else None
        opts = ServeOptions(
            bind=args.bind,
            engine="preview",
            size=args.size or 256,
            max_clients=args.max_clients,
            token=token,
            cert=args.cert,
            key=args.key,
            quality=max(1, min(95, args.quality)),
            report_s=max(0.5, args.report_every),
            decoder=args.decoder,
        )
        check_options(opts)  # bind, token and TLS before any slow work
        if args.engine != "preview":
            try:
                opts.engine, note = resolve_engine(args.engine, args.decoder)
            except ModelMissing as exc:
                raise CliError(str(exc)) from None
            if note:
                print(f"hambajuba serve: {note}", file=sys.stderr)
        if args.size is None:
            opts.size = 512 if opts.engine == "sdxl-turbo" else 256
        return run(opts)
    except ServeError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _add_features_parser(sub) -> None:
    """``hambajuba features list | search | show | import | pull | embed`` (cli_features.py)."""
    from hambajuba_tui.vocab import BLOCKS

    confidences = ("high", "medium", "low")
    p = sub.add_parser("features", help="browse, search and import SAE feature labels")
    fsub = p.add_subparsers(dest="features_command", required=True, metavar="ACTION")
    lst = fsub.add_parser("list", help="label tables, concept vectors, packs")
    lst.add_argument("--json", action="store_true")
    s = fsub.add_parser("search", help="search labels, categories and ids")
    s.add_argument("query")
    s.add_argument("--block", choices=BLOCKS)
    s.add_argument("--category", help="only this category (e.g. lighting)")
    s.add_argument("--min-confidence", choices=confidences)
    s.add_argument("--limit", type=int, default=20)
    s.add_argument(
        "--mode",
        choices=["auto", "keyword", "concept"],
        default="auto",
        help="keyword, concept (by meaning), or auto: both, fused (default; keyword-only "
        "until the labels are embedded)",
    )
    s.add_argument("--json", action="store_true")
    show = fsub.add_parser("show", help="one feature (BLOCK:ID) and its neighbours")
    show.add_argument("feature", help="BLOCK:ID, e.g. up.0.1:154")
    show.add_argument("-k", type=int, default=10, help="neighbours to show (default 10)")
    show.add_argument("--sae-root", type=Path, help="SAE checkpoint folders (default: HF cache)")
    show.add_argument("--json", action="store_true")
    imp = fsub.add_parser("import", help="import label tables (<block>.json files or folders)")
    imp.add_argument("paths", nargs="+", type=Path)
    no_embed = "import only: leave embedding the labels for concept search to later"
    imp.add_argument("--no-embed", action="store_true", help=no_embed)
    pull = fsub.add_parser("pull", help="download the published tables from Hugging Face")
    pull.add_argument("--revision", help="dataset revision (default: main)")
    pull.add_argument("--no-embed", action="store_true", help=no_embed)
    emb = fsub.add_parser("embed", help="embed labels for concept search, export decoders")
    emb.add_argument("--sae-root", type=Path, help="SAE checkpoint folders (default: HF cache)")


def cmd_features(args) -> int:
    from hambajuba_tui.cli_features import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hambajuba", description="A terminal creature that lets a diffusion model dance."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="dance to the built-in synthesised song")
    _show_options(demo)
    play = sub.add_parser("play", help="dance to your song (wav, flac, ogg, mp3)")
    play.add_argument("file", type=Path)
    _show_options(play)
    live = sub.add_parser(
        "live", help="dance to whatever is playing (system audio) or a microphone"
    )
    live.add_argument(
        "--source",
        help="where to listen: a name (or part of one) or a number from --list-sources "
        "(default: the default output's monitor, i.e. what the speakers play)",
    )
    live.add_argument(
        "--list-sources", action="store_true", help="list the sources to listen to, and exit"
    )
    _show_options(live, live=True)
    analyze = sub.add_parser("analyze", help="analyse a song and print a summary")
    analyze.add_argument("file", type=Path)
    analyze.add_argument("--json", action="store_true", help="print the summary as JSON")
    _stems_option(analyze)
    _add_snapshot_parser(sub)
    _add_features_parser(sub)
    _add_models_parser(sub)
    _add_skins_parser(sub)
    _add_render_parser(sub)
    _add_serve_parser(sub)
    return parser


def _add_skins_parser(sub) -> None:
    skins = sub.add_parser("skins", help="list the skins, or check a skin file")
    what = skins.add_subparsers(dest="skins_command", required=True, metavar="ACTION")
    what.add_parser("list", help="every skin: name, origin, path, description")
    check = what.add_parser("check", help="check a skin file (exit 3 with its problems)")
    check.add_argument("file", type=Path)


def cmd_skins(args) -> int:
    from hambajuba_tui.tui.skin import SkinError, describe, parse_skin, read_skin, skin_files

    if args.skins_command == "list":
        rows = [(name, origin, str(path), describe(path)) for name, origin, path in skin_files()]
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        for name, origin, path, text in rows:
            print(
                f"{name:<{widths[0]}}  {origin:<{widths[1]}}  {text}\n"
                f"{'':<{widths[0]}}  {'':<{widths[1]}}  {path}"
            )
        return 0
    try:
        skin = parse_skin(read_skin(args.file), str(args.file))
    except SkinError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_INPUT
    print(f"{args.file}: ok (skin {skin.name!r})")
    return 0


def _add_snapshot_parser(sub) -> None:
    snap = sub.add_parser("snapshot", help="print one frame of a song inline (term-image)")
    snap.add_argument("file", type=Path)
    snap.add_argument("--at", type=float, required=True, help="time in the song (s)")
    snap.add_argument(
        "--engine",
        default="preview",
        choices=["preview"],
        help="what renders the frame (default: preview)",
    )
    snap.add_argument("--size", type=int, default=256, help="frame size in pixels (default 256)")
    snap.add_argument("--width", type=int, help="width in terminal cells (default: fit)")
    snap.add_argument("--blocks", action="store_true", help="half-blocks, whatever the terminal")
    snap.add_argument("--save", type=Path, help="also write the frame as PNG here")
    _stems_option(snap)


def cmd_snapshot(args) -> int:
    from hambajuba_tui.bridge.session import load_or_default
    from hambajuba_tui.catalog.packs import load_pack
    from hambajuba_tui.graphics.snapshot import print_frame, render_frame
    from hambajuba_tui.paths import performance_path

    if not 16 <= args.size <= 2048:
        raise CliError("--size must be between 16 and 2048", EXIT_USAGE)
    if args.at < 0:
        raise CliError("--at must be a time in the song, in seconds (0 or more)", EXIT_USAGE)
    audio, analysis = _prepare(args, args.file, args.file.stem)
    session, _ = load_or_default(performance_path(analysis.song_hash), load_pack().session())
    try:
        frame = render_frame(analysis, session, args.at, args.engine, args.size)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if args.save:
        from PIL import Image

        Image.fromarray(frame).save(args.save)
    print(print_frame(frame, args.width, "block" if args.blocks else "auto"))
    return 0


def _resolve_stems(requested: str) -> str:
    """The stem backend to run for ``--stems``; says so on stderr when auto falls back."""
    backend, note = _stems_and_note(requested)
    if note:
        print(note, file=sys.stderr)
    return backend


def _stems_and_note(requested: str) -> tuple[str, str]:
    """The stem backend to run for ``--stems``, and the line to say when auto falls back."""
    from hambajuba_tui.audio.decode import AudioError
    from hambajuba_tui.audio.stems import resolve_backend

    try:
        backend, note = resolve_backend(requested)
    except AudioError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return backend, f"hambajuba: {note}" if requested == "auto" and backend != "demucs" else ""


def _analyze_with_progress(path: Path, audio=None, quiet: bool = False, stems: str = "auto"):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hambajuba_tui.audio.analysis import analyze
    from hambajuba_tui.audio.decode import AudioError

    # the fallback is said once the song is known to be usable: a bad file gets one line
    backend, note = _stems_and_note(stems)

    with Progress(
        TextColumn("[bold]analysing[/] {task.description:<10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        transient=True,
        disable=quiet,
        console=_stderr_console(),
    ) as bar:
        task = bar.add_task("decode", total=1.0)

        def progress(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        try:
            result = analyze(path, progress=progress, audio=audio, stems_backend=backend)
        except AudioError as exc:
            raise CliError(str(exc)) from None
    if note:
        print(note, file=sys.stderr)
    if result.stems_backend != backend and not result.silent:
        print(
            f"hambajuba: {backend} failed, stems by {result.stems_backend} instead", file=sys.stderr
        )
    return result


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _load(path: Path):
    from hambajuba_tui.audio.decode import AudioError, load_audio

    try:
        return load_audio(path)
    except AudioError as exc:
        raise CliError(str(exc)) from None


def _prepare_show(args, song_path: Path, title: str):
    """Decode, then the cached analysis, or (unless ``--wait-analysis``) a quick streaming
    pass to dance on at once while the full analysis runs behind; returns
    (audio, analysis, job or None)."""
    if args.wait_analysis:
        return (*_prepare(args, song_path, title), None)
    from hambajuba_tui.engine.worker import prespawn

    prespawn()  # the engine worker's interpreter loads on the other core while we decode
    from hambajuba_tui.audio import cache
    from hambajuba_tui.audio.decode import AudioError, content_hash
    from hambajuba_tui.audio.instant import AnalysisJob

    audio = _load(song_path)
    backend = _resolve_stems(args.stems)
    try:
        song_hash = content_hash(song_path)
    except (OSError, AudioError) as exc:
        raise CliError(f"{song_path}: cannot read ({exc})") from None
    hit = cache.load_cached(song_hash, stems_backend=backend)
    if hit is not None:
        hit.title = title
        return audio, hit, None
    # The show starts its worker while the job's fast pass runs; it plays once both are ready.
    job = AnalysisJob(song_path, song_hash, title, audio.n_samples / audio.sr, backend)
    job.start(audio)  # forked with the decoded song where it can be: no second decode
    return audio, job.analysis, job


def _prepare(args, song_path: Path, title: str):
    """Decode + analyse (cached) with a progress bar; returns (audio, analysis)."""
    audio = _load(song_path)
    analysis = _analyze_with_progress(song_path, audio=audio, stems=args.stems)
    analysis.title = title
    if analysis.silent:
        print(
            f"hambajuba: {song_path.name} is silence only: it plays, but nothing will dance",
            file=sys.stderr,
        )
    return audio, analysis


def _choose_engine(args, early: bool) -> str | None:
    """Resolve ``--engine`` (and the default ``--size``) without importing torch.

    ``early``: only refuse an explicit sdxl-turbo whose weights are missing (cheap, before the
    analysis); otherwise resolve ``auto`` (may probe for a GPU in a child process) and say
    what is missing when it falls back to the preview. Returns that note (also on stderr).
    """
    from hambajuba_tui.engine.errors import ModelMissing
    from hambajuba_tui.engine.models import missing, resolve_engine

    if args.engine.startswith(("ws://", "wss://")):  # the server chooses its engine
        if args.size is None:
            args.size = 512
        return None
    if early:
        if args.engine == "sdxl-turbo" and missing(args.decoder):
            _choose_engine(args, early=False)
        size = args.size if args.size is not None else 512
        if args.engine == "sdxl-turbo" and (size % 32 or size < 64):
            raise CliError(
                "--size for sdxl-turbo must be a multiple of 32, at least 64", EXIT_USAGE
            )
        return None
    try:
        args.engine, note = resolve_engine(args.engine, args.decoder)
    except ModelMissing as exc:
        raise CliError(str(exc)) from None
    if note:
        print(f"hambajuba: {note}", file=sys.stderr)
    if args.size is None:
        args.size = 512 if args.engine == "sdxl-turbo" else 256
    elif args.engine == "sdxl-turbo" and (args.size % 32 or args.size < 64):
        args.size = max(64, args.size // 32 * 32)
        print(
            f"hambajuba: sdxl-turbo renders multiples of 32 pixels: size {args.size}",
            file=sys.stderr,
        )
    return note


def _check_show_args(args) -> None:
    """Refuse bad options before any slow work."""
    _choose_engine(args, early=True)
    if args.size is not None and (args.size < 16 or args.size > 2048):
        raise CliError("--size must be between 16 and 2048", EXIT_USAGE)
    if not 1 <= args.fps <= 120:
        raise CliError("--fps must be between 1 and 120", EXIT_USAGE)
    if not args.headless and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError(
            "the creature needs a terminal; use --headless to run without one", EXIT_USAGE
        )
    if args.frames_out is not None:
        _check_frames_out(args.frames_out)
    if args.headless and args.skin is not None:  # the TUI reports a bad skin; so does headless
        from hambajuba_tui.tui.skin import load_skin

        for problem in load_skin(args.skin)[1]:
            print(f"hambajuba: {problem}", file=sys.stderr)
    if args.pack is not None:  # a bad pack is known before the song is analysed
        from hambajuba_tui.catalog.packs import PackError, load_pack

        try:
            load_pack(args.pack)
        except PackError as exc:
            raise CliError(f"feature pack: {exc}") from None


def _check_frames_out(path: Path) -> None:
    """``--frames-out`` must be a folder that exists or can be made: checked before any work
    (a folder made here to find out is removed again)."""
    if path.exists() and not path.is_dir():
        raise CliError(f"--frames-out {path}: exists and is not a folder", EXIT_USAGE)
    made = []
    try:
        for folder in reversed([path, *path.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
        probe = path / f".hambajuba-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise CliError(
            f"--frames-out {path}: cannot write there ({exc.strerror or exc})", EXIT_USAGE
        ) from None
    finally:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _run_show(args, audio, analysis, job=None, listener=None) -> int:
    from hambajuba_tui.bridge.session import load_or_default
    from hambajuba_tui.catalog.packs import PackError, load_pack
    from hambajuba_tui.paths import performance_path
    from hambajuba_tui.show import Show, ShowOptions

    engine_note = _choose_engine(args, early=False)
    try:
        default = load_pack(args.pack).session()
    except (PackError, OSError) as exc:
        raise CliError(f"feature pack: {exc}") from None
    session, problem = load_or_default(performance_path(analysis.song_hash), default)
    notices = [n for n in (engine_note, problem) if n]
    if problem:
        print(f"hambajuba: {problem}", file=sys.stderr)
    token = None
    if getattr(args, "token_file", None) is not None:
        from hambajuba_tui.server import ServeError, read_token

        try:
            token = read_token(args.token_file)
        except ServeError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    options = ShowOptions(
        token=token,
        engine=args.engine,
        width=args.size,
        height=args.size,
        fps=args.fps,
        sound=not (getattr(args, "no_sound", False) or args.headless),
        decoder=args.decoder,
    )
    samples, sr = (audio.samples, audio.sr) if audio is not None else (None, 0)
    try:
        show = Show(analysis, samples, sr, session, options, job=job, listener=listener)
    except BaseException:
        for part in (job, listener):
            if part is not None:
                part.close()
        raise
    try:
        if args.headless:
            from hambajuba_tui.headless import run_headless

            summary = run_headless(
                show,
                args.seconds,
                args.frames_out,
                start=getattr(args, "start", 0.0),
                every=max(1, args.frames_every),
                command_started=args.started,
            )
            brief = {k: v for k, v in summary.items() if k != "shown_frames"}
            print(json.dumps(brief))
            if show.live and summary["capture_t0"] is None:
                why = show.listener.status.message or show.listener.error or "no input"
                raise CliError(f"nothing came from the source in {args.seconds:g} s ({why})")
            return 0
        show.start(play=False)  # the worker loads while the terminal UI does
        from hambajuba_tui.tui.app import HambajubaApp
        from hambajuba_tui.tui.skin import load_skin

        skin, problems = load_skin(args.skin)
        problems = notices + problems
        if getattr(args, "start", 0.0):
            show.player.seek(args.start)
        app = HambajubaApp(
            show,
            skin=skin,
            title=analysis.title,
            notices=problems,
            graphics=_graphics_mode(args.graphics),
            song_path=getattr(args, "song_path", None),
        )
        _run_app(app)
        if job is not None and job.finish_detached():
            print(
                f"hambajuba: finishing the analysis of {Path(job.path).name} in the background, "
                "so the next play starts from it",
                file=sys.stderr,
            )
        if show.session != session:  # the user changed the setup: keep it for next time
            from hambajuba_tui.bridge.session import save

            save(show.session, performance_path(analysis.song_hash))
        return 0
    finally:
        show.close()


def _run_app(app) -> None:
    """Run the TUI; a crash inside it (the terminal restored) is one line naming the log
    that holds the traceback, and a non-zero exit."""
    from hambajuba_tui.tui.app import write_crash_log

    try:
        app.run()
    except Exception as exc:  # a crash outside Textual's own handling
        app.crash_log = write_crash_log(exc)
    if app.crash_log is not None or app.return_code:
        raise CliError(f"the app crashed; the traceback is in {app.crash_log}", EXIT_CRASH)


def _graphics_mode(requested: str):
    """Probe the terminal before Textual takes stdin; ``--graphics`` overrides the choice."""
    from hambajuba_tui.graphics.probe import detect

    return detect(requested)


def cmd_demo(args) -> int:
    from hambajuba_tui.audio.demo_song import demo_mix_path
    from hambajuba_tui.paths import demo_dir

    _check_show_args(args)
    path = demo_mix_path(demo_dir())
    audio, analysis, job = _prepare_show(args, path, "hambajuba demo")
    args.song_path = path
    return _run_show(args, audio, analysis, job)


def cmd_play(args) -> int:
    _check_show_args(args)
    audio, analysis, job = _prepare_show(args, args.file, args.file.stem)
    args.song_path = args.file
    return _run_show(args, audio, analysis, job)


def cmd_live(args) -> int:
    """``hambajuba live``: the streaming analysis of a source, with no file and no waiting."""
    from hambajuba_tui.audio.capture import CaptureError, find_source, list_sources

    if args.list_sources:
        try:
            sources = list_sources()
        except CaptureError as exc:
            raise CliError(str(exc)) from None
        if not sources:
            print("no sources to listen to")
        for src in sources:
            mark = "*" if src.default else " "
            print(f"{mark}{src.index:>3}  {src.kind:<10}  {src.name}  ({src.label})")
        return 0
    _check_show_args(args)
    source = args.source
    try:  # a source named now is checked now; missing or busy later, live waits for it
        source = find_source(args.source).name
    except CaptureError as exc:
        if args.source is not None:
            raise CliError(str(exc)) from None
        print(f"hambajuba: {exc}; waiting for a source", file=sys.stderr)
    from hambajuba_tui.audio.listen import Listener

    listener = Listener(source)
    listener.analysis.title = f"live: {source or 'default source'}"
    return _run_show(args, None, listener.analysis, listener=listener)


def cmd_analyze(args) -> int:
    from hambajuba_tui.audio.analysis import summary as analysis_summary

    # not decoded here: a cached song needs no decode, and a new one is decoded by the
    # analysis a block at a time (the whole stereo of a 60-minute mix is 1.3 GB)
    from hambajuba_tui.audio.decode import AudioError, check_path

    try:
        check_path(args.file)  # a missing file is named before anything else is said
    except AudioError as exc:
        raise CliError(str(exc)) from None
    a = _analyze_with_progress(args.file, quiet=args.json, stems=args.stems)
    summary = {"file": str(args.file), **analysis_summary(a)}
    if args.json:
        print(json.dumps(summary))
        return 0
    key = f", {a.key}" if a.key else ""
    print(
        f"{args.file.name}: {a.duration:.1f} s, {a.bpm:.1f} BPM{key}, {len(a.beats)} beats, "
        f"stems by {a.stems_backend}" + (" (silence only)" if a.silent else "")
    )
    if len(a.keys) > 1:
        print("  key: " + " → ".join(f"{k} at {t:.1f} s" if t else k for t, k in a.keys))
    entries = summary["layer_entries"]
    for stem, share in summary["activity"].items():
        first = entries.get(stem) or []
        enters = f", enters at {first[0]:.1f} s" if first else ""
        moves = summary["motion"].get(stem, "")
        print(f"  {stem:<8} active {share:6.1%}{enters}" + (f", moves by {moves}" if moves else ""))
    for section in summary["sections"]:
        print(f"  section {section['label']:<4} {section['start']:7.1f} – {section['end']:.1f} s")
    return 0


def _add_models_parser(sub) -> None:
    models = sub.add_parser("models", help="the sdxl-turbo weights: status, pull")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    status = msub.add_parser("status", help="what is present, where, and its size")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    pull = msub.add_parser(
        "pull",
        help="download SDXL-Turbo (fp16), TAESDXL, the four SAEs and "
        "the feature labels into the Hugging Face cache",
    )
    pull.add_argument(
        "--only", nargs="+", metavar="NAME", help="pull only these (sdxl, taesdxl, saes, feature)"
    )


def cmd_models(args) -> int:
    from hambajuba_tui.engine import models

    if args.models_command == "pull":
        try:
            models.pull(args.only, log=lambda line: print(f"hambajuba: {line}", file=sys.stderr))
        except RuntimeError as exc:
            raise CliError(str(exc), 1) from None
    rows = models.status()
    if getattr(args, "json", False):
        print(json.dumps(rows))
        return 0
    for row in rows:
        mark = "present" if row["present"] else "MISSING"
        size = f"{row['bytes'] / 1e9:.2f} GB" if row["bytes"] else "-"
        print(f"{row['name']:<18} {mark:<8} {size:>9}  {row['path'] or row['repo']}")
        for gap in row["missing"]:
            print(f"{'':<18} missing: {gap}")
    lacking = models.missing()
    print(
        "sdxl-turbo engine: "
        + ("ready" if not lacking else "not ready (run `hambajuba models pull`)")
    )
    return 0


# -- render: song + performance → video ------------------------------------------------------
def _add_render_parser(sub) -> None:
    r = sub.add_parser(
        "render",
        help="render the song's performance to a video (H.264 + AAC in an MP4)",
        description="Render a song's saved performance (or --performance FILE) to a video: "
        "frame i at t = i / fps, deterministic; H.264 yuv420p with the song's audio in AAC.",
    )
    r.add_argument("file", type=Path, help="the song (or `demo` for the built-in song)")
    r.add_argument("-o", "--output", type=Path, required=True, help="the video file (.mp4)")
    r.add_argument("--performance", type=Path, help="a performance TOML (default: the song's)")
    r.add_argument("--pack", type=Path, help="feature pack for the default performance")
    r.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "sdxl-turbo", "preview"],
        help="sdxl-turbo (GPU, weights), preview (CPU) or auto (default)",
    )
    r.add_argument("--decoder", default="taesd", choices=["taesd", "vae"])
    r.add_argument("--size", type=int, default=None, help="heart frame size in pixels (512)")
    r.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30, ≤ 60)")
    r.add_argument("--start", type=float, default=0.0, help="clip start (s)")
    r.add_argument("--end", type=float, default=None, help="clip end (s; default: the song's end)")
    r.add_argument("--seed", type=int, default=None, help="seed noise (default: the performance's)")
    r.add_argument("--creature", action="store_true", help="draw the creature around the heart")
    r.add_argument("--vertical", action="store_true", help="1080×1920 layout for phones")
    r.add_argument("--skin", type=Path, help="skin for --creature (a TOML file or a name)")
    r.add_argument(
        "--preset",
        default="superfast",
        choices=["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"],
        help="x264 speed / size trade (default superfast: ahead of real time on 2 cores)",
    )
    r.add_argument(
        "--progress-json",
        action="store_true",
        help="progress as JSON lines on stdout (for scripts and the TUI)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _stems_option(r)


def _render_progress(args):
    """(callback, close) reporting render progress: a bar on a terminal, a line every few
    seconds without one, JSON lines with ``--progress-json``."""
    import time as _time

    if args.progress_json:
        last = [0.0]

        def report(p) -> None:
            now = _time.monotonic()
            if p.frame == p.frames or now - last[0] >= 0.25:
                last[0] = now
                eta = None if p.eta_s == float("inf") else round(p.eta_s, 1)
                line = {"frame": p.frame, "frames": p.frames, "fps": round(p.fps, 2), "eta_s": eta}
                print(json.dumps(line), flush=True)

        return report, lambda: None
    if args.quiet:
        return None, lambda: None
    console = _stderr_console()
    if not console.is_terminal:
        last = [0.0]

        def lines(p) -> None:
            now = _time.monotonic()
            if p.frame == p.frames or now - last[0] >= 5.0:
                last[0] = now
                print(
                    f"hambajuba: render {p.frame}/{p.frames} frames, {p.fps:.1f} fps, "
                    f"ETA {_eta(p.eta_s)}",
                    file=sys.stderr,
                    flush=True,
                )

        return lines, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("[bold]rendering[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames · {task.fields[fps]:.1f} fps · ETA {task.fields[eta]}"),
        console=console,
        transient=True,
    )
    bar.start()
    task = bar.add_task("render", total=None, fps=0.0, eta="–")

    def update(p) -> None:
        bar.update(task, total=p.frames, completed=p.frame, fps=p.fps, eta=_eta(p.eta_s))

    return update, bar.stop


def _eta(seconds: float) -> str:
    if seconds == float("inf"):
        return "–"
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def cmd_render(args) -> int:
    import signal
    import time as _time

    from hambajuba_tui.bridge.session import SessionError, load, load_or_default
    from hambajuba_tui.catalog.packs import PackError, load_pack
    from hambajuba_tui.paths import performance_path
    from hambajuba_tui.render.encoder import RenderError, check_writable, ffmpeg_exe
    from hambajuba_tui.render.render import MAX_FPS, RenderOptions, render

    if args.size is None:
        args.size = 512
    if not 16 <= args.size <= 2048 or args.size % 2:
        raise CliError("--size must be an even number between 16 and 2048", EXIT_USAGE)
    if not 0 < args.fps <= MAX_FPS:
        raise CliError(f"--fps must be above 0 and at most {MAX_FPS:g}", EXIT_USAGE)
    if args.start < 0 or (args.end is not None and args.end <= args.start):
        raise CliError("--start must be 0 or more and --end after it", EXIT_USAGE)
    out = args.output
    if out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise CliError(f"{out}: the video is an MP4; name it .mp4", EXIT_USAGE)
    try:
        ffmpeg_exe()
        check_writable(out)
    except RenderError as exc:
        raise CliError(str(exc)) from None
    _choose_engine(args, early=True)
    if args.performance is not None and not args.performance.is_file():
        raise CliError(f"{args.performance}: no such performance file")
    # SIGTERM (a parent such as the TUI stopping us) cleans up like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    if str(args.file) == "demo" and not args.file.exists():
        from hambajuba_tui.audio.demo_song import demo_mix_path
        from hambajuba_tui.paths import demo_dir

        song, title = demo_mix_path(demo_dir()), "hambajuba demo"
    else:
        song, title = args.file, args.file.stem
    audio, analysis = _prepare(args, song, title)
    _choose_engine(args, early=False)
    try:
        default = load_pack(args.pack).session()
    except (PackError, OSError) as exc:
        raise CliError(f"feature pack: {exc}") from None
    if args.performance is not None:
        try:
            session = load(args.performance, default)
        except (SessionError, OSError, ValueError) as exc:
            raise CliError(str(exc)) from None
    else:
        session, problem = load_or_default(performance_path(analysis.song_hash), default)
        if problem:
            print(f"hambajuba: {problem}", file=sys.stderr)
    skin = None
    if args.creature or args.vertical:
        from hambajuba_tui.tui.skin import load_skin

        skin, problems = load_skin(args.skin)
        for problem in problems:
            print(f"hambajuba: {problem}", file=sys.stderr)
    opts = RenderOptions(
        engine=args.engine,
        size=args.size,
        fps=args.fps,
        start=args.start,
        end=args.end,
        seed=args.seed,
        creature=args.creature,
        vertical=args.vertical,
        decoder=args.decoder,
        title=title,
        preset=args.preset,
    )
    report, close = _render_progress(args)
    began = _time.monotonic()
    try:
        path = render(analysis, audio.samples, audio.sr, session, out, opts, skin, report)
    except RenderError as exc:
        raise CliError(str(exc), 1) from None
    finally:
        close()
    took = _time.monotonic() - began
    end = analysis.duration if args.end is None else min(args.end, analysis.duration)
    seconds = max(0.0, end - args.start)
    summary = {
        "done": str(path),
        "seconds": round(seconds, 3),
        "fps": args.fps,
        "engine": args.engine,
        "render_s": round(took, 2),
        "realtime": round(seconds / took, 2) if took > 0 else None,
    }
    if args.progress_json:
        print(json.dumps(summary), flush=True)
    elif not args.quiet:
        print(
            f"wrote {path}: {seconds:.1f} s at {args.fps:g} fps, engine {args.engine}, "
            f"in {took:.1f} s ({summary['realtime']}× real time)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    import time

    started = time.monotonic()
    args = build_parser().parse_args(argv)
    args.started = started
    handler = {
        "demo": cmd_demo,
        "play": cmd_play,
        "live": cmd_live,
        "analyze": cmd_analyze,
        "snapshot": cmd_snapshot,
        "features": cmd_features,
        "models": cmd_models,
        "skins": cmd_skins,
        "render": cmd_render,
        "serve": cmd_serve,
    }[args.command]
    try:
        return handler(args)
    except CliError as exc:
        print(f"hambajuba: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("hambajuba: cancelled", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
