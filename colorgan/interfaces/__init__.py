"""Thin shells over the pipeline: the command line, the web page/REST API, video."""
