"""The web page and REST API (`colorgan serve`): a thin shell over the Colorizer.

Needs the `web` extra (FastAPI, uvicorn, python-multipart). See colorgan/interfaces/web/server.py.
"""
