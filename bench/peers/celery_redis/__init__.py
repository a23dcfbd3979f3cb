"""The user's original design (``shared/seed``): Celery 5 workers on a Redis broker.

Implemented as the seed writes it, flaws included (see ``docs/benchmarks.md``):

* ``celery_config.py``: the seed's ``scrape_os_task`` verbatim (``bind=True,
  max_retries=3``, retry countdown ``60 * 2 ** retries``, notify, return a dict), with
  the three helpers the seed names but does not show: ``execute_scraping`` (raspa's own
  requests + parsel scraper, one logged-in session per worker process, so only the
  orchestration differs), ``save_scraped_data`` (the seed's relational table, here
  SQLite) and ``notify_user`` (a Redis PUBLISH standing in for the WebSocket push).
* ``endpoint.py``: the seed's ``buscar_os_async`` and ``get_scraping_status`` with its
  dedup check (``AsyncResult(f"scraping_{n}").state == "PENDING"``).
* Redis is Debian's ``redis-server``, started by the benchmark on a free port.
"""
