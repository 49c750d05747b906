"""The composition root: the CLI, the web app and the wiring that builds every part."""
