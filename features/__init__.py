"""The project's own feature packs (TOML)."""
