"""`pictod web`: the people review web app, a separate process from the daemon.

`command.py` (the subcommand) -> `server.py` (bind, token, uvicorn) -> `app.py` (routes and views) behind
`security.py` (Host check, token login, session cookie, CSRF and origin checks, headers). `data.py` is the one
module that calls the library; `thumbs.py` makes and caches thumbnails and face crops. templates/ and static/
are everything the browser gets: nothing is fetched from anywhere else.
"""
