"""A static file server with HTTP Range support, for /vsicurl/ tests: ``python range_server.py FOLDER``.

Python's http.server ignores Range headers, which GDAL's /vsicurl/ needs. The server runs in its own
process: rasterio holds the GIL while GDAL fetches, so a server thread in the test process would starve.
It prints its port on the first line of stdout.
"""
from __future__ import annotations

import functools
import http.server
import io
import sys
from pathlib import Path


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Answers ``Range: bytes=a-b`` with 206 Partial Content; everything else as http.server does."""

    def send_head(self):
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range", "")
        if not path.is_file() or not header.startswith("bytes="):
            return super().send_head()
        data = path.read_bytes()
        start, _, end = header[len("bytes="):].partition("-")
        first, last = int(start), min(int(end) if end else len(data) - 1, len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(data[first:last + 1])

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(RangeHandler, directory=sys.argv[1]))
    print(server.server_address[1], flush=True)
    server.serve_forever()
