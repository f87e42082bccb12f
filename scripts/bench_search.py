"""Latency of `annotator search`'s exact numpy search against DuckDB's exact SQL search, on the same archive.

Writes N random unit vectors (the bundled model's 29 dimensions by default) as an embeddings archive in a temporary
workdir, in parts of 10,000 rows as nights would, then measures, in the same run:

* load: reading the archive into one float32 matrix (`EmbeddingArchive.read`), once per `annotator search` call;
* numpy query: scores of every vector + the top 20 (`annotator.search.nearest`), median of the queries;
* DuckDB query: `ORDER BY array_cosine_similarity(vector, ?) DESC LIMIT 20` over the same Parquet parts (exact, the
  SQL a user would write), median, and the same on a table already loaded into DuckDB's memory;
* faiss (only when `faiss` is importable; not a dependency): exact `IndexFlatIP` and approximate HNSW, with HNSW's
  recall@20 against the exact answer.

    python scripts/bench_search.py                      # 100,000 vectors
    python scripts/bench_search.py --sizes 1000000 --numpy-only
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from annotator.embeddings import EmbeddingArchive
from annotator.project import Projection
from annotator.search import Candidates, nearest

PART_ROWS = 10_000


def _write_archive(workdir: Path, vectors: np.ndarray) -> EmbeddingArchive:
    archive = EmbeddingArchive(workdir, "bench" + "0" * 59)
    for start in range(0, vectors.shape[0], PART_ROWS):
        chunk = vectors[start : start + PART_ROWS]
        archive.append(Projection(f"GSM{start + i}/f.bed", "f", "ok", file_sha256=str(start + i), vector=v)
                       for i, v in enumerate(chunk))  # fmt: skip
    return archive


def _median_ms(fn, queries: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def bench(n: int, dim: int, n_queries: int, k: int, numpy_only: bool = False) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(n, n_queries, replace=False)]
    queries = queries + rng.normal(0, 0.05, queries.shape).astype(np.float32)  # near, not on, a stored vector
    with tempfile.TemporaryDirectory() as tmp:
        archive = _write_archive(Path(tmp), vectors)
        t = time.perf_counter()
        loaded = archive.read()
        load_s = time.perf_counter() - t
        candidates = Candidates(loaded.sample_ids, ["archive"] * len(loaded), loaded.vectors, [{}] * len(loaded))
        numpy_ms = _median_ms(lambda q: nearest(candidates, q, k), queries)
        size_mb = sum(p.stat().st_size for p in archive.parts()) / 1e6
        print(f"{n:>9,} vectors x {dim} dims (archive {size_mb:.1f} MB)")
        print(f"  load archive        {1000 * load_s:9.1f} ms (once per search call)")
        print(f"  numpy exact query   {numpy_ms:9.2f} ms")
        if numpy_only:
            return

        glob = str(archive.directory / "part-*.parquet")
        con = duckdb.connect()
        con.execute("SET threads = 2")
        sql = f"""SELECT sample_id, array_cosine_similarity(vector::FLOAT[{dim}], ?::FLOAT[{dim}]) AS c
                  FROM {{src}} ORDER BY c DESC LIMIT {k}"""
        parquet_ms = _median_ms(lambda q: con.execute(sql.format(src=f"read_parquet('{glob}')"),
                                                      [q.tolist()]).fetchall(), queries[:5])  # fmt: skip
        con.execute(f"CREATE TABLE e AS SELECT sample_id, vector::FLOAT[{dim}] AS vector FROM read_parquet('{glob}')")
        memory_ms = _median_ms(lambda q: con.execute(sql.format(src="e"), [q.tolist()]).fetchall(), queries[:10])
        exact = [set(i for i, _ in nearest(candidates, q, k)) for q in queries]
        print(f"  DuckDB on Parquet   {parquet_ms:9.2f} ms   ({parquet_ms / numpy_ms:.1f}x numpy)")
        print(f"  DuckDB in memory    {memory_ms:9.2f} ms   ({memory_ms / numpy_ms:.1f}x numpy)")
        _faiss(vectors, queries, k, exact, numpy_ms)


def _faiss(vectors: np.ndarray, queries: np.ndarray, k: int, exact: list[set[int]], numpy_ms: float) -> None:
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        print("  faiss               not installed (pip install faiss-cpu to compare)")
        return
    faiss.omp_set_num_threads(2)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    flat_ms = _median_ms(lambda q: flat.search(q[None, :], k), queries)
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efSearch = 64
    hnsw.add(vectors)
    build_s = time.perf_counter() - t
    hnsw_ms = _median_ms(lambda q: hnsw.search(q[None, :], k), queries)
    found = [set(hnsw.search(q[None, :], k)[1][0]) for q in queries]
    recall = statistics.mean(len(f & e) / k for f, e in zip(found, exact, strict=True))
    print(f"  faiss flat (exact)  {flat_ms:9.2f} ms   ({flat_ms / numpy_ms:.2f}x numpy)")
    print(f"  faiss HNSW M=32     {hnsw_ms:9.2f} ms   ({hnsw_ms / numpy_ms:.3f}x numpy), recall@{k} {recall:.3f}, "
          f"build {build_s:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated numbers of vectors (default 100000)")
    parser.add_argument("--dim", type=int, default=29, help="dimensions (the bundled model has 29)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--numpy-only", action="store_true", help="skip DuckDB and faiss (quick at 1 M vectors)")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        bench(n, args.dim, args.queries, args.k, args.numpy_only)


if __name__ == "__main__":
    main()
