"""The client side: talking to a Strongroom server over HTTP, for the Python SDK and for
the commands that act on a remote server (``strongroom jobs|events|webhook --endpoint``).

Invariant: imports nothing of the server (no ``api``, ``metadata``, ``registry``,
``services``, ``auth``, ``events``, ``jobs``, ``settings``...); what it knows of the
server is the wire: URLs, JSON documents, the admin error shape. A lint-imports contract
keeps it so.

The model SDK: :class:`Registry` (and :class:`AsyncRegistry`) push, pull and inspect
model artifacts; see the README.
"""

from strongroom.client.admin import AccessKey, Login
from strongroom.client.models import AsyncRegistry, Registry
from strongroom.modelformats.modelinfo import ModelFileInfo, ModelInfo

__all__ = ["AccessKey", "AsyncRegistry", "Login", "ModelFileInfo", "ModelInfo", "Registry"]
