"""HTTP servers: ``serving`` serves one registered model version (``suiro serve``).

Nothing is imported here, so importing a submodule does not load FastAPI for the others.
"""
