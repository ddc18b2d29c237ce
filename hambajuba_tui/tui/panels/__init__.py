"""The instrument's panels: block config, feature browser, mask painter, scenes, composition,
help; the dock they open in; the palette entries; performances (see ``instrument``)."""
