"""The photo use cases, for both front ends: the search (`pictod photos`, the web app's Photos page) and one
photo with its files (the web app's photo page and renditions).

The filter (`PhotoFilter`) and the result (`PhotoHit`) are the store's own types (`daemon/store/search.py`),
handed through unchanged: a field added to the search is written there once as a filter and once as a result.
"""

from __future__ import annotations

import sqlite3

from daemon.store import Store, search
from daemon.store import web_queries as wq
from daemon.store.search import PhotoFace, PhotoFilter, PhotoHit, PhotoObject, check_filter, date_bounds
from daemon.store.web_queries import FileRow, PhotoFiles

__all__ = ["FileRow", "PhotoFace", "PhotoFiles", "PhotoFilter", "PhotoHit", "PhotoObject", "count_photos",
           "date_bounds", "face_frame", "photo", "search_photos"]


def search_photos(store: Store, flt: PhotoFilter) -> list[PhotoHit]:
    """Photos matching every condition of the filter, sorted and paged, with paths, dates, camera, objects and
    faces. ValueError for a date or place no search can take, NotFoundError for an unknown person."""
    check_filter(flt)
    return store.read(lambda conn: search.search_photos(conn, flt))


def count_photos(store: Store, flt: PhotoFilter) -> int:
    """How many photos match the filter (its sort and page aside)."""
    check_filter(flt)
    return store.read(lambda conn: search.count_photos(conn, flt))


def photo(store: Store, photo_id: int) -> PhotoFiles:
    """A photo and its recorded files; NotFoundError for an unknown id."""
    return store.read(lambda c: wq.photo(c, photo_id))


def face_frame(store: Store, face_id: int) -> tuple[tuple[float, float, float, float], float | None, PhotoFiles]:
    """A face's box, the second of its frame for a video's face (the crop is taken from that frame; None for a
    photo's), and its photo with files: what a face crop is rendered from, in one read."""
    def read(conn: sqlite3.Connection) -> tuple[tuple[float, float, float, float], float | None, PhotoFiles]:
        photo_id, box = wq.face_box(conn, face_id)
        return box, wq.face_time(conn, face_id), wq.photo(conn, photo_id)
    return store.read(read)


