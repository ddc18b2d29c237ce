"""SAE feature labels: the project's feature packs and label tables."""
