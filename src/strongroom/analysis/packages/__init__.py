"""Catalogers: installed packages from the evidence files each ecosystem leaves in an image.

Each module parses one ecosystem's evidence (bytes in, packages out); ``catalog.py``
says which paths are evidence and which parser reads them.
"""
