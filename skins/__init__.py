"""Built-in skins (TOML)."""
