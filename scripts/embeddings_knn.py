"""Weighted kNN from `selfsup embed` outputs, in plain Python (no NumPy needed).

Reads the stored set's and the query set's embeddings (safetensors, tensor "embeddings") and
their file lists (the .json beside each), takes each image's label from its folder name
(ImageFolder layout: <class>/<image>), and prints {"top1": ..., "queries": ...} as JSON: the
same weighted kNN as `selfsup eval knn` (cosine similarity, the k most similar vote with
exp(s / t), the class with the largest sum wins).

    python3 scripts/embeddings_knn.py STORED.safetensors QUERIES.safetensors --k 200 --t 0.07
"""

import argparse
import json
import math
import pathlib
import struct


def read_embeddings(path):
    """The [rows, cols] float32 tensor "embeddings" of a safetensors file, as lists of floats."""
    data = pathlib.Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    entry = header["embeddings"]
    assert entry["dtype"] == "F32", entry
    rows, cols = entry["shape"]
    start, end = entry["data_offsets"]
    body = data[8 + header_len + start : 8 + header_len + end]
    values = struct.unpack(f"<{rows * cols}f", body)
    return [list(values[r * cols : (r + 1) * cols]) for r in range(rows)]


def labels(path):
    """The class (parent folder name) of each row, from the file list beside `path`."""
    index = json.loads(pathlib.Path(path).with_suffix(".json").read_text())
    return [pathlib.PurePath(f).parent.name for f in index["files"]]


def normalize(row):
    norm = math.sqrt(sum(v * v for v in row)) or 1e-12
    return [v / norm for v in row]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stored")
    parser.add_argument("queries")
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--t", type=float, default=0.07)
    args = parser.parse_args()
    stored = [normalize(r) for r in read_embeddings(args.stored)]
    queries = [normalize(r) for r in read_embeddings(args.queries)]
    stored_labels, query_labels = labels(args.stored), labels(args.queries)
    hits = 0
    for query, label in zip(queries, query_labels):
        similarity = [sum(a * b for a, b in zip(query, row)) for row in stored]
        nearest = sorted(range(len(stored)), key=lambda i: -similarity[i])[: args.k]
        votes = {}
        for i in nearest:
            votes[stored_labels[i]] = votes.get(stored_labels[i], 0.0) + math.exp(similarity[i] / args.t)
        hits += max(votes, key=votes.get) == label
    print(json.dumps({"top1": hits / max(len(queries), 1), "queries": len(queries)}))


if __name__ == "__main__":
    main()
