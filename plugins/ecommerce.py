"""Real ecommerce datasets (files from shared/datasets; see SOURCES.md). Not written yet."""
