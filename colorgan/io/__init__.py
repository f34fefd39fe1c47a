"""Reading and writing files: images (the one reader/writer) and model files (the resolver)."""
