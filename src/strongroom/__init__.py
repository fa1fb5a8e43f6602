"""Strongroom: a secure, self-hosted registry for ML model artifacts and container images.

The composition root is :mod:`strongroom.services` (``build_services``) and
:mod:`strongroom.app` (``create_app``); nothing happens at import time.
"""
