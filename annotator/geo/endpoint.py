"""Where GEO is: the one `geo_base_url` setting, applied at the edge to every URL annotator or geofetch builds.

GEO lives on three NCBI hosts whose paths never collide: `www.ncbi.nlm.nih.gov/geo/query/acc.cgi` (SOFT text),
`ftp.ncbi.nlm.nih.gov/geo/...` (supplementary and family files, https or ftp) and
`eutils.ncbi.nlm.nih.gov/entrez/eutils/...` (the `--since-days` search). With `geo_base_url` set (a test server, a
mirror), `rebase` keeps each path and query and swaps scheme and host for the base; without it URLs are untouched,
so the defaults stay the real GEO. geofetch builds its URLs from module constants and calls `requests` without a
timeout; `geofetch_at` swaps the `requests` its modules see for `annotator.geo.textfetch.TextClient`, which rebases
every URL and makes each request under a timeout, a per-request deadline and the night's deadline, for the
duration of a `with` block. URLs that are not GEO's are never rebased.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from annotator.errors import ConfigError, DownloadError

GEO_HOSTS = frozenset({"www.ncbi.nlm.nih.gov", "ftp.ncbi.nlm.nih.gov", "eutils.ncbi.nlm.nih.gov"})
#: The host each kind of request goes to on the real GEO (probed before a night starts).
SOFT_URL = "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi"
SEARCH_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi"
_PATCH_LOCK = threading.RLock()


def check_base_url(base: str | None) -> str | None:
    """`base` normalised (no trailing slash), or None; raises ConfigError unless it is http(s)://host[:port][/path]."""
    if base is None or not base.strip():
        return None
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"geo_base_url must look like http(s)://host[:port][/path], got {base!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def rebase(url: str, base: str | None) -> str:
    """`url` with GEO's scheme and host replaced by `base` (path and query kept); other URLs unchanged."""
    if not base:
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https", "ftp") or (parts.hostname or "").lower() not in GEO_HOSTS:
        return url
    root = urlsplit(base)
    return urlunsplit((root.scheme, root.netloc, root.path.rstrip("/") + parts.path, parts.query, ""))


@contextlib.contextmanager
def geofetch_at(
    base: str | None,
    timeout_s: float = 60.0,
    *,
    request_deadline_s: float | None = None,
    until: float | None = None,
    allow_local_urls: bool = False,
) -> Iterator[None]:
    """Within the block, geofetch's SOFT fetches and searches go to `base` (None: the real GEO) with a timeout, each
    cut off `request_deadline_s` after it starts (None: never) and at `until` (`time.monotonic()` of the night's
    end; None: no such end)."""
    import requests
    from geofetch import finder, utils

    from annotator.geo.textfetch import TextClient

    modules = (utils, finder)
    with _PATCH_LOCK:
        saved = [m.requests for m in modules]
        shim = TextClient(requests, base, timeout_s, request_deadline_s=request_deadline_s, until=until,
                          allow_local_urls=allow_local_urls)  # fmt: skip
        for m in modules:
            m.requests = shim
        try:
            yield
        finally:
            for m, old in zip(modules, saved, strict=True):
                m.requests = old


def probe(urls: list[str], base: str | None, timeout_s: float = 10.0, attempts: int = 2) -> None:
    """Raise DownloadError, with one clear message, when none of the hosts of `urls` accepts a TCP connection.

    A resolver failure or a refused or timed-out connect on every host means the night cannot reach GEO at all;
    finding that out costs seconds, not a minute of retries per file. Through a proxy (`https_proxy` …) the proxy
    is what is probed.
    """
    reasons: list[str] = []
    for url in dict.fromkeys(rebase(u, base) for u in urls):
        host, port = _endpoint(url)
        for attempt in range(attempts):
            try:
                with socket.create_connection((host, port), timeout=timeout_s):
                    return
            except socket.gaierror as exc:
                reason = f"{host}: name lookup failed ({exc.strerror or exc})"
                break  # the resolver's answer does not change in a second
            except OSError as exc:
                reason = f"{host}:{port}: {exc.strerror or type(exc).__name__}"
                if attempt + 1 < attempts:
                    threading.Event().wait(1.0)
        reasons.append(reason)
    raise DownloadError(
        f"cannot reach GEO ({'; '.join(reasons)}): check the network, DNS or proxy settings, "
        "or use --soft-dir with saved SOFT files; nothing was harvested"
    )


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    default = {"https": 443, "http": 80, "ftp": 21}.get(parts.scheme, 80)
    return parts.hostname or "", parts.port or default
