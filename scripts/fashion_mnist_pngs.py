"""Fashion-MNIST's 60000 training images as a plain folder of grayscale PNGs (no labels, no split)."""
import gzip, os, struct, sys, zlib

src, out = sys.argv[1], sys.argv[2]
path = os.path.join(src, "train-images-idx3-ubyte")
data = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
magic, n, rows, cols = struct.unpack(">IIII", data[:16])
assert magic == 2051
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
for i in range(n):
    pixels = data[16 + i * rows * cols : 16 + (i + 1) * rows * cols]
    raw = b"".join(b"\x00" + pixels[r * cols : (r + 1) * cols] for r in range(rows))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    folder = os.path.join(out, f"{i // 1000:02d}")
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, f"{i:05d}.png"), "wb").write(png)
print(n, "images written to", out)
