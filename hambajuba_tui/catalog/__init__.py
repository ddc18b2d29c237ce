"""SAE feature labels: tables (import, pull), keyword and concept search, neighbours, packs.

Entry point for the TUI and the CLI: :class:`hambajuba_tui.catalog.catalog.Catalog`. Nothing
here imports torch; the embedding model and SAE decoders run in child processes.
"""
