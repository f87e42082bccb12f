"""Bundled BEDspace models (data only); installed as the package `annotator.bundled_models`."""
