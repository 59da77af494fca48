"""Common code of the Import/Export job app: rules, models, storage and HTTP shaping.

Every function folder and the purge timer use this package; nothing in it
knows about the host that runs the functions.
"""
