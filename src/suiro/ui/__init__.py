"""The web UI and its JSON API (``suiro ui``): runs, pipelines and models in a browser.

``app.create_app`` builds the FastAPI app; ``reads`` holds the read functions both the pages and
``/api/v1`` call (never a second copy of a query); ``auth`` the token, cookie and CSRF rules;
``dag`` and ``charts`` draw SVG on the server; ``serve`` runs it with uvicorn. Every read goes
through the read-only query layer (``suiro.store.queries`` on ``Store.reader``). The writes
(a model's promote and rollback; a deployment's pause and resume; starting runs, which
``launches`` does in child processes) need a token. ``automation`` has the deployment pages and
the trigger form; ``background`` runs the scheduler beside the UI for ``suiro server``.
"""
