"""Test support: real server processes, image and artifact builders."""
