"""Pure building blocks: colour maths, tiling, the typed config, devices, errors (no file I/O)."""
