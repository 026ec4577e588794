"""`pictod web`: the people review web app, a separate process from the daemon.

`command.py` (the subcommand) -> `server.py` (bind, token, uvicorn) -> `app.py` (the routes) behind
`security.py` (Host check, token login, session cookie, CSRF and origin checks, headers). One module per page
family (`people_pages.py`, `faces_pages.py`, `photo_pages.py`, `status_pages.py`) over `pages.py`'s plumbing; their
handlers call the use cases of `daemon/library/`, the same as the CLI's. `thumbs.py` makes and caches thumbnails
and face crops. templates/ and static/
are everything the browser gets: nothing is fetched from anywhere else.
"""
