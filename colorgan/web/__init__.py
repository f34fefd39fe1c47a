"""The web page and REST API (`colorgan serve`): a thin shell over colorgan.inference.Colorizer.

Needs the `web` extra (FastAPI, uvicorn, python-multipart). See colorgan/web/server.py.
"""
