"""The ``strongroom`` command line: administrative commands act on the store named by
the settings; nothing here holds logic the services do not."""
