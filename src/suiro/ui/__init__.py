"""The web UI and its JSON API (``suiro ui``): runs, pipelines and models in a browser.

``app.create_app`` builds the FastAPI app; ``reads`` holds the read functions both the pages and
``/api/v1`` call (never a second copy of a query); ``auth`` the token, cookie and CSRF rules;
``dag`` and ``charts`` draw SVG on the server; ``serve`` runs it with uvicorn. Every read goes
through the read-only query layer (``suiro.store.queries`` on ``Store.reader``); the only
writes are the model registry's promote and rollback, and only with a token.
"""
